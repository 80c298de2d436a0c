/**
 * The kit's internals, shared by the real-time {@link io.livemig.kit.InMemoryVm} and the
 * virtual-time {@link io.livemig.kit.SimulatedVm}: paged memory, the workload's write sequence,
 * the write-barrier dirty log, demand paging, the throttle, the workload device. Not exported.
 */
package io.livemig.kit.internal;
