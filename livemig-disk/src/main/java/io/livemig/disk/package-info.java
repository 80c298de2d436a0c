/**
 * Block backends for the disks of a VM, for VMMs and for the disk sync tool:
 * {@link io.livemig.disk.RawImage} is a raw image file that serves the guest's requests, tracks
 * its writes block by block with a persistent dsync change log, and is both the
 * {@link io.livemig.spi.DiskSource} a migration reads and the {@link io.livemig.spi.DiskSink} it
 * writes.
 */
package io.livemig.disk;
