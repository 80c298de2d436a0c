/**
 * livemig's test kit: migrations without a hypervisor, for two kinds of user. Add the
 * {@code livemig-testkit} artifact in test scope; no production jar carries it.
 *
 * <p><b>Users' tests</b> drive the real engines against VMs that live in the JVM, in real time:
 * <ul>
 *   <li>{@link io.livemig.kit.InMemoryVm}: a migration source and target whose RAM is in direct
 *       buffers and whose vCPU threads really write into it, as a {@link io.livemig.kit.Workload}
 *       ({@link io.livemig.kit.WorkloadPattern}, rate, working set, seed) says; with dirty
 *       tracking, throttling, post-copy demand paging and free-page hints; and disks, written
 *       as a disk workload says.</li>
 *   <li>{@link io.livemig.kit.InMemoryDisk}: a sparse disk in memory with dsync's block
 *       tracking (live set, change log, generation), which tests compare byte for byte and copy
 *       to make stale replicas.</li>
 *   <li>{@link io.livemig.kit.InMemoryProvider}: the {@code mem:} hypervisor provider, which
 *       makes such VMs from URIs such as {@code mem:vm1?size=1G&workload=random&rate=50M}.</li>
 *   <li>{@link io.livemig.kit.InMemoryChannel}: a connected pair of channel ends whose link has
 *       the bandwidth, latency and buffering of a {@link io.livemig.kit.LinkShape}, and can be
 *       cut; {@link io.livemig.kit.RedialableLink} dials it again, for post-copy recovery.</li>
 * </ul>
 *
 * <p><b>Researchers' simulations</b> run the same engines in virtual time, so that a 16 GiB VM on
 * a 1 Gbit/s link migrates in seconds of wall time and a pre-copy run repeats exactly:
 * <ul>
 *   <li>{@link io.livemig.kit.VirtualTime}: a clock that moves only when a side waits or
 *       receives; each side of a migration has its own.</li>
 *   <li>{@link io.livemig.kit.SimulatedVm}: a VM whose memory is synthesized (a version per
 *       page) and whose guest's writes are a function of virtual time.</li>
 *   <li>{@link io.livemig.kit.Simulation}: migrates a simulated VM to a new one over a shaped
 *       in-memory link, each side on its own clock, and returns both reports.</li>
 * </ul>
 *
 * <p>Both kinds of VM are made of the same parts (in the unexported
 * {@code io.livemig.kit.internal}): the sequence of pages a workload writes, the prefill choice,
 * the write-barrier dirty tracker, the demand-paging presence map, the throttled vCPU control and
 * the workload device. A workload's pattern, working set and generator therefore choose its
 * pages by the same code in a simulation as on the in-memory VM's threads; what differs is the
 * pace (a function of virtual time, or threads in real time), the memory (synthesized or
 * stored) and what a write puts in its page.
 */
package io.livemig.kit;
