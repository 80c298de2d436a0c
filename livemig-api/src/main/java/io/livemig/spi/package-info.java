/**
 * The provider interface: what a hypervisor binding implements so that every livemig strategy
 * works on its VMs.
 *
 * <p>Consumers (the engines) call these interfaces; providers implement them. A provider
 * implements {@link io.livemig.spi.HypervisorProvider} and registers it both with
 * {@code provides} in its module-info and in {@code META-INF/services}. From there it hands
 * out a {@link io.livemig.spi.MigratableVm} on the source side and a
 * {@link io.livemig.spi.MigrationTarget} on the destination side.
 *
 * <p><b>Optional capabilities</b> are all offered the same way: a {@code default} method that
 * returns {@link java.util.Optional#empty()} (or an empty list), documented as "Optional
 * capability: empty when ...". A provider overrides exactly the ones it has:
 * {@link io.livemig.spi.MigratableVm#dirtyTracker()}, {@link io.livemig.spi.MigratableVm#disks()},
 * {@link io.livemig.spi.MigratableVm#freePageHints()},
 * {@link io.livemig.spi.MemorySource#populatedPages()}, {@link io.livemig.spi.VcpuControl#throttle()},
 * {@link io.livemig.spi.MigrationTarget#demandPaging()}, {@link io.livemig.spi.MigrationTarget#disks()},
 * {@link io.livemig.spi.DiskSource#tracker()}, {@link io.livemig.spi.DiskSource#writeMirror()} and
 * {@link io.livemig.spi.DiskSink#demand()}. The engines pick their strategy from what is present
 * and refuse, before anything is sent, a strategy that needs a missing one. The provider contract
 * suite in {@code livemig-testkit} ({@code io.livemig.kit.contract}) skips a missing capability's
 * checks by name.
 *
 * <p>Page numbers everywhere are guest page frame numbers: guest-physical address divided by
 * the page size. Sizes are in bytes, counts in pages, and both say so in their names.
 */
package io.livemig.spi;
