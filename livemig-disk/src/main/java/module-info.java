/**
 * Block backends for the disks of a VM: {@link io.livemig.disk.RawImage}, a raw image file that a
 * VMM serves guest requests from and that a migration reads and writes in blocks, with dsync
 * change tracking kept in a sidecar file. The sidecar's format and the tracking machinery live in
 * {@code io.livemig.disk.internal}, which is not exported.
 */
module io.livemig.disk {
    exports io.livemig.disk;

    requires transitive io.livemig.api;
    requires org.slf4j;
}
