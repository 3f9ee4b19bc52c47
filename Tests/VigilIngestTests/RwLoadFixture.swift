/// Bodies built by `shared/bench/rw_load.py`'s own encoders (`_len_field`, `encode_labels`, `encode_sample`,
/// and its literal-only snappy fallback), for three series:
/// node_cpu_seconds_total{cpu="0",dc="dc-1",host="host-0000",job="node",mode="idle"} 12345.5@1700000000000 12346.75@1700000015000
/// node_load1{dc="dc-1",host="host-0000",job="node"} 0.42@1700000000000
/// libvirt_domain_memory_rss_bytes{dc="dc-2",host="host-0001",job="libvirt",vm="vm-0001-03"} NaN@1700000000000 +Inf@1700000015000 -0.0@-5
enum RwLoadFixture {
    static let rawBase64 = "CowBCiIKCF9fbmFtZV9fEhZub2RlX2NwdV9zZWNvbmRzX3RvdGFsCggKA2NwdRIBMAoKCgJkYxIEZGMtMQoRCgRob3N0Eglob3N0LTAwMDAKCwoDam9iEgRub2RlCgwKBG1vZGUSBGlkbGUSEAkAAAAAwBzIQBCA0JX/vDESEAkAAAAAYB3IQBCYxZb/vDEKVgoWCghfX25hbWVfXxIKbm9kZV9sb2FkMQoKCgJkYxIEZGMtMQoRCgRob3N0Eglob3N0LTAwMDAKCwoDam9iEgRub2RlEhAJ4XoUrkfh2j8QgNCV/7wxCqgBCisKCF9fbmFtZV9fEh9saWJ2aXJ0X2RvbWFpbl9tZW1vcnlfcnNzX2J5dGVzCgoKAmRjEgRkYy0yChEKBGhvc3QSCWhvc3QtMDAwMQoOCgNqb2ISB2xpYnZpcnQKEAoCdm0SCnZtLTAwMDEtMDMSEAkAAAAAAAD4fxCA0JX/vDESEAkAAAAAAADwfxCYxZb/vDESFAkAAAAAAAAAgBD7//////////8B"
    static let snappyBase64 = "kgP0kQEKjAEKIgoIX19uYW1lX18SFm5vZGVfY3B1X3NlY29uZHNfdG90YWwKCAoDY3B1EgEwCgoKAmRjEgRkYy0xChEKBGhvc3QSCWhvc3QtMDAwMAoLCgNqb2ISBG5vZGUKDAoEbW9kZRIEaWRsZRIQCQAAAADAHMhAEIDQlf+8MRIQCQAAAABgHchAEJjFlv+8MQpWChYKCF9fbmFtZV9fEgpub2RlX2xvYWQxCgoKAmRjEgRkYy0xChEKBGhvc3QSCWhvc3QtMDAwMAoLCgNqb2ISBG5vZGUSEAnhehSuR+HaPxCA0JX/vDEKqAEKKwoIX19uYW1lX18SH2xpYnZpcnRfZG9tYWluX21lbW9yeV9yc3NfYnl0ZXMKCgoCZGMSBGRjLTIKEQoEaG9zdBIJaG9zdC0wMDAxCg4KA2pvYhIHbGlidmlydAoQCgJ2bRIKdm0tMDAwMS0wMxIQCQAAAAAAAPh/EIDQlf+8MRIQCQAAAAAAAPB/EJjFlv+8MRIUCQAAAAAAAACAEPv//////////wE="
}
