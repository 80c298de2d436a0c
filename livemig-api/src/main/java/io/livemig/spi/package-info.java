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
 * <p>Page numbers everywhere are guest page frame numbers: guest-physical address divided by
 * the page size. Sizes are in bytes, counts in pages, and both say so in their names.
 */
package io.livemig.spi;
