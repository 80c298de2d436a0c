package io.livemig.e2e.fuzz;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.SourceVmState;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.VmDescriptor;

import java.time.Duration;
import java.util.List;
import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One run of the real destination ({@link LiveMigration#receive}) against a {@link FuzzScript},
 * into an {@link InMemoryVm} the destination's factory makes, and the properties every run must
 * keep ({@link #assertEndedCleanly()}).
 *
 * <p>The receive runs on a thread of its own, bounded by {@link #RUN_LIMIT}: the script never
 * blocks, so a run that takes longer is a hang.
 */
final class ReceiverRun {

    /** The secret both sides hold when the script's configuration says so. */
    static final MigrationSecret SECRET = MigrationSecret.of(filled(32, (byte) 0x5A));
    /**
     * Small limits, so that no input makes a run allocate more than a few MiB: 1 MiB of RAM, a
     * span of 4096 pages, 8 regions, 4 vCPUs, 4 devices, 64 KiB of state.
     */
    static final ReceiveLimits LIMITS = new ReceiveLimits(1 << 20, 1 << 12, 8, 4, 4, 64 << 10, Duration.ofSeconds(5))
            .withMaxDiskBlocks(1 << 12);
    /** Far more than any run takes (milliseconds): past it, the run is a hang. */
    static final Duration RUN_LIMIT = Duration.ofSeconds(20);

    private static final AtomicReference<Thread> RECEIVER_THREAD = new AtomicReference<>();
    private static final ExecutorService RECEIVER = Executors.newSingleThreadExecutor(task -> {
        Thread thread = Thread.ofPlatform().daemon().name("fuzz-receiver").unstarted(task);
        RECEIVER_THREAD.set(thread);
        return thread;
    });

    private final ScriptedSource source;
    private final AtomicReference<InMemoryVm> target = new AtomicReference<>();
    private final AtomicInteger targetsMade = new AtomicInteger();
    private final AtomicInteger resumes = new AtomicInteger();
    private ReceivedMigration received;
    private Throwable failure;

    private ReceiverRun(byte[] input) {
        FuzzScript script = new FuzzScript(input);
        this.source = new ScriptedSource(script, script.secret() ? SECRET : null, target::get);
    }

    private static byte[] filled(int length, byte value) {
        byte[] b = new byte[length];
        Arrays.fill(b, value);
        return b;
    }

    /** Plays {@code input} against a new destination and waits for it to end. */
    static ReceiverRun play(byte[] input) throws InterruptedException {
        ReceiverRun run = new ReceiverRun(input);
        run.receive(new FuzzScript(input).secret());
        return run;
    }

    private void receive(boolean withSecret) throws InterruptedException {
        // A source that comes back does so at once (its next connection plays the rest of the
        // script); one that does not must not cost the fuzzer the time a real one would be given.
        MigrationOptions.Builder options = MigrationOptions.builder().ioTimeout(Duration.ofSeconds(1))
                .recoveryWindow(Duration.ofMillis(5)).receiveLimits(LIMITS);
        if (withSecret) {
            options.secret(SECRET);
        }
        MigrationOptions built = options.build();
        Future<ReceivedMigration> running = RECEIVER.submit(() -> LiveMigration.receive(source.first(),
                source.reconnector(), this::create, built));
        try {
            received = running.get(RUN_LIMIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            failure = e.getCause();
        } catch (TimeoutException e) {
            AssertionError hang = new AssertionError("the receive did not end within " + RUN_LIMIT.toSeconds()
                    + " s, though its source never blocks; the receiving thread is where this trace points");
            Thread thread = RECEIVER_THREAD.get();
            if (thread != null) {
                hang.setStackTrace(thread.getStackTrace());
            }
            throw hang;
        }
    }

    private InMemoryVm create(VmDescriptor descriptor) {
        targetsMade.incrementAndGet();
        // A kit target with the announced layout, vCPUs and new empty disks, and the stateful devices
        // among the announced ones (all zero, waiting for their data streams). What a kit VM cannot
        // be (other devices, another vCPU format) it is not: the engine's checks must catch that.
        List<String> kitDevices = new java.util.ArrayList<>(List.of(io.livemig.kit.internal.WorkloadDevice.ID));
        if (!descriptor.disks().isEmpty()) {
            kitDevices.add(io.livemig.kit.internal.DiskWorkloadDevice.ID);
        }
        descriptor.deviceIds().stream().filter(id -> io.livemig.kit.StatefulDeviceSpec.parseId(id).isPresent())
                .forEach(kitDevices::add);
        VmDescriptor kit = new VmDescriptor(descriptor.memoryLayout(), descriptor.vcpuCount(), kitDevices,
                io.livemig.kit.internal.GuestCpu.STATE_FORMAT, descriptor.disks());
        InMemoryVm vm = InMemoryVm.builder().onResume(resumed -> resumes.incrementAndGet()).buildTarget(kit);
        target.set(vm);
        return vm;
    }

    /**
     * The properties: the receive returned or threw a {@link MigrationException}, nothing else; at
     * most one target was made and it was resumed at most once; a receive that failed closed its
     * target, which never ran unless post-copy had begun (the failure then says {@code SPLIT});
     * a receive that returned hands over the target it made, running; the destination said
     * RESUMED only for a target that runs. Closes the target in any case.
     */
    void assertEndedCleanly() {
        InMemoryVm vm = target.get();
        try {
            if (failure != null && !(failure instanceof MigrationException)) {
                throw new AssertionError("the receive ended with " + failure + ", not a MigrationException", failure);
            }
            assertNull(source.malformedReturn());
            assertTrue(targetsMade.get() <= 1, targetsMade.get() + " targets made for one migration");
            assertTrue(resumes.get() <= 1, "the target was resumed " + resumes.get() + " times");
            int resumedSent = source.sent(FrameType.RESUMED);
            assertTrue(resumedSent <= 1, "RESUMED sent " + resumedSent + " times");
            if (resumedSent > 0) {
                assertEquals(1, resumes.get(), "RESUMED sent for a target that was never resumed");
            }
            if (failure instanceof MigrationException e) {
                if (vm != null) {
                    assertFalse(vm.isOpen(), () -> "the receive failed (" + e + ") and left its target open");
                }
                boolean split = e.sourceState() == SourceVmState.SPLIT;
                assertEquals(split ? 1 : 0, resumes.get(), () -> "a failure reported as " + e.sourceState() + " ("
                        + e + ") after " + resumes.get() + " resumes of the target");
            } else {
                assertSame(vm, received.target(), "the receive hands over the target it made");
                assertTrue(vm.isOpen(), "the received target is open");
                assertEquals(1, resumes.get(), "the received target was resumed");
                assertFalse(vm.vcpus().isPaused(), "the received target runs");
            }
        } finally {
            if (vm != null) {
                vm.close();
            }
        }
    }

    /** @return the receive's failure, or null if it returned */
    Throwable failure() {
        return failure;
    }

    /** @return what the receive returned, or null if it failed */
    ReceivedMigration received() {
        return received;
    }

    /** @return how many frames of {@code type} the destination sent */
    int sent(FrameType type) {
        return source.sent(type);
    }
}
