package io.livemig.spi;

/**
 * A disk that can be both ends of a disk migration, as a VMM's block backend usually is (a raw
 * image, an in-memory disk): read as a {@link DiskSource} when its VM leaves, written as a
 * {@link DiskSink} when a VM arrives. A class that is both a {@link MigratableVm} and a
 * {@link MigrationTarget} returns its disks as a list of this type, which satisfies both
 * interfaces' {@code disks()}.
 */
public interface Disk extends DiskSource, DiskSink {
}
