/**
 * The internals of {@code io.livemig.disk}, not exported: the dsync change log's sidecar file
 * ({@link io.livemig.disk.internal.SidecarHeader} is its format,
 * {@link io.livemig.disk.internal.ChangeLog} its mapped bitmap), the
 * {@link io.livemig.spi.BlockTracker} over it ({@link io.livemig.disk.internal.DsyncTracker}),
 * post-copy's {@link io.livemig.spi.BlockDemand} ({@link io.livemig.disk.internal.DemandSupport}) and
 * the host's boot id ({@link io.livemig.disk.internal.BootId}).
 */
package io.livemig.disk.internal;
