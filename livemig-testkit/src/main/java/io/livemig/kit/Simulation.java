package io.livemig.kit;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * Runs one migration of a {@link SimulatedVm} in virtual time: the destination is a new
 * simulated VM with a clock of its own, the link an {@link InMemoryChannel} shaped as given, and
 * the engines the same code as in production. A 16 GiB VM on a 1 Gbit/s link takes seconds of
 * wall time; a pre-copy run gives the same source report on every run.
 *
 * <pre>{@code
 * VirtualTime clock = new VirtualTime();
 * SimulatedVm vm = SimulatedVm.builder(clock).memoryBytes(4L << 30)
 *         .workload(Workload.of(WorkloadPattern.RANDOM, 50L << 20)).build();
 * vm.start();
 * Simulation.Result r = Simulation.migrate(vm, LinkShape.of(125_000_000, Duration.ofMillis(1)), options);
 * }</pre>
 *
 * <p>Thread-safe: each call is independent.
 */
public final class Simulation {

    private Simulation() {
    }

    /**
     * What a simulated migration produced.
     *
     * @param source      the source's report, or null if it failed
     * @param failure     the source's failure, or null
     * @param destination the destination's report, or null if it failed
     * @param target      the destination VM (running), or null; the caller closes it
     */
    public record Result(MigrationReport source, MigrationException failure, MigrationReport destination,
                         SimulatedVm target) {
    }

    /**
     * Migrates {@code source} to a new simulated VM.
     *
     * @param source  a started simulated VM, whose clock must be a {@link VirtualTime}
     * @param link    the simulated link
     * @param options the options; their time source is replaced by each side's clock
     * @return both reports
     * @throws InterruptedException if interrupted while waiting for the destination
     */
    public static Result migrate(SimulatedVm source, LinkShape link, MigrationOptions options)
            throws InterruptedException {
        return migrate(source, link, options, List.of());
    }

    /**
     * Migrates {@code source} to a new simulated VM that starts from existing disks: the
     * {@code targetDisks} (stale replicas, {@link InMemoryDisk#copy()} of the source's disks made
     * earlier, say) stand in for the source's disks with their ids; the others are new and empty.
     *
     * @param source      a started simulated VM, whose clock must be a {@link VirtualTime}
     * @param link        the simulated link
     * @param options     the options; their time source is replaced by each side's clock
     * @param targetDisks disks for the target, each with the id and shape of a source disk; not
     *                    attached to an open VM
     * @return both reports
     * @throws InterruptedException if interrupted while waiting for the destination
     */
    public static Result migrate(SimulatedVm source, LinkShape link, MigrationOptions options,
                                 List<InMemoryDisk> targetDisks) throws InterruptedException {
        Objects.requireNonNull(link, "link");
        List<InMemoryDisk> replicas = List.copyOf(targetDisks);
        if (!(source.time() instanceof VirtualTime sourceClock)) {
            throw new IllegalArgumentException("the source VM must live on a VirtualTime clock");
        }
        VirtualTime destinationClock = new VirtualTime();
        destinationClock.advanceTo(sourceClock.nanoTime());
        InMemoryChannel.Pair pair = InMemoryChannel.pair(link, sourceClock, destinationClock);
        MigrationOptions destinationOptions = options.toBuilder().timeSource(destinationClock)
                .listener(io.livemig.api.MigrationListener.NONE).build();
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try (Channel channel = pair.destination()) {
                return LiveMigration.receive(channel, d -> {
                    SimulatedVm.Builder target = SimulatedVm.builder(destinationClock);
                    replicas.forEach(target::disk);
                    return target.buildTarget(d);
                }, destinationOptions);
            } catch (MigrationException e) {
                throw new CompletionException(e);
            }
        }, task -> Thread.ofPlatform().name("livemig-simulated-destination").start(task));
        MigrationReport report = null;
        MigrationException failure = null;
        try (Channel channel = pair.source()) {
            report = LiveMigration.migrate(source, channel, options.toBuilder().timeSource(sourceClock).build());
        } catch (MigrationException e) {
            failure = e;
        }
        try {
            ReceivedMigration r = received.get();
            return new Result(report, failure, r.report(), (SimulatedVm) r.target());
        } catch (ExecutionException e) {
            return new Result(report, failure, null, null);
        }
    }
}
