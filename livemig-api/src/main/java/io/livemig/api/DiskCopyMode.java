package io.livemig.api;

/** How disks are copied while the VM runs (QEMU's mirror {@code copy-mode}). */
public enum DiskCopyMode {
    /**
     * Rounds of the blocks written since the previous round, as pages are: the guest's writes are
     * never slowed, but a disk written faster than the link never converges.
     */
    BACKGROUND,
    /**
     * After the first pass, each guest write is mirrored to the destination as it happens and
     * completes only once sent, so the disk converges whatever its write rate: the guest's disk
     * writes slow to the link's pace. Disks whose backend cannot mirror writes are copied in the
     * background mode.
     */
    WRITE_BLOCKING
}
