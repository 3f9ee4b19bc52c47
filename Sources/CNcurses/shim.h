#ifndef VIGIL_CNCURSES_SHIM_H
#define VIGIL_CNCURSES_SHIM_H
/* SwiftPM drops pkg-config's -D_XOPEN_SOURCE for ncursesw: without NCURSES_WIDECHAR the wide-character API
   (mvaddnwstr, wget_wch, cchar_t) is not declared. */
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <wchar.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ncursesw/ncurses.h>

/* C globals and macros Swift 6 cannot use directly. */
static inline WINDOW *vigil_stdscr(void) { return stdscr; }
static inline FILE *vigil_stdin(void) { return stdin; }
static inline FILE *vigil_stdout(void) { return stdout; }
static inline int vigil_colors(void) { return COLORS; }
static inline attr_t vigil_a_normal(void) { return A_NORMAL; }
static inline attr_t vigil_a_bold(void) { return A_BOLD; }
static inline attr_t vigil_a_reverse(void) { return A_REVERSE; }
static inline attr_t vigil_a_dim(void) { return A_DIM; }
static inline attr_t vigil_a_underline(void) { return A_UNDERLINE; }
/* attr_set is a macro in ncurses' wide build; this is the one call that sets a cell style. */
static inline void vigil_set_style(attr_t attrs, short pair) { wattr_set(stdscr, attrs, pair, (void *)0); }
/* One key: returns 0 on timeout/no key, 1 for a character (*code = the Unicode scalar), 2 for a function key
   (*code = KEY_UP, KEY_RESIZE, ...). */
static inline int vigil_read_key(unsigned int *code) {
    wint_t c = 0;
    int r = wget_wch(stdscr, &c);
    *code = (unsigned int)c;
    if (r == ERR) return 0;
    return r == KEY_CODE_YES ? 2 : 1;
}

/* Restoring the terminal on every way out: normal exit (atexit), SIGINT/SIGTERM/SIGHUP/SIGQUIT, and the crash
   signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP: a Swift trap is SIGILL or SIGTRAP). The handler
   calls endwin(), puts the default action back and re-raises, so the exit status still tells what happened.
   Only VigilTop's Terminal.swift calls these (each Swift file gets its own copy of a header's static state). */
static volatile sig_atomic_t vigil_curses_active = 0;
static void vigil_restore_terminal(void) {
    if (vigil_curses_active) { vigil_curses_active = 0; endwin(); fflush(stdout); }
}
static void vigil_restore_and_reraise(int sig) {
    vigil_restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}
static inline void vigil_install_restore(void) {
    static int installed = 0;
    vigil_curses_active = 1;
    if (installed) return;
    installed = 1;
    atexit(vigil_restore_terminal);
    int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = vigil_restore_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, (void *)0);
}
static inline void vigil_end_curses(void) { vigil_restore_terminal(); }
#endif
