package io.livemig.spi;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link BlockDemand.Gate}: requests wait for missing blocks, each reported once, until installed or superseded. */
class BlockDemandGateTest {

    private static final long BLOCKS = 64;
    /** A deadline for what must happen, never a measured time. */
    private static final long DEADLINE_SECONDS = 10;

    private final BlockingQueue<Long> reports = new LinkedBlockingQueue<>();
    private final BlockDemand.Listener listener = reports::add;

    private static PageSet blocks(long... numbers) {
        PageSet set = new PageSet(BLOCKS);
        for (long n : numbers) {
            set.add(n);
        }
        return set;
    }

    private static BlockDemand.Gate armed(BlockDemand.Listener listener, long... missing) {
        BlockDemand.Gate gate = new BlockDemand.Gate("test disk", BLOCKS);
        gate.arm(blocks(missing), listener);
        return gate;
    }

    /** Runs {@code request} on a platform thread of its own, as a guest request would. */
    private static <T> CompletableFuture<T> request(Supplier<T> request) {
        return CompletableFuture.supplyAsync(request, task -> Thread.ofPlatform().name("guest-request").start(task));
    }

    private long nextReport() throws InterruptedException {
        Long block = reports.poll(DEADLINE_SECONDS, TimeUnit.SECONDS);
        if (block == null) {
            throw new AssertionError("no block reported");
        }
        return block;
    }

    private static void awaitParked(Thread thread) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEADLINE_SECONDS);
        while (thread.getState() != Thread.State.WAITING) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(thread + " never waited, state " + thread.getState());
            }
            Thread.sleep(1);
        }
    }

    @Test
    void aRequestWaitsForItsMissingBlockAndWakesOnlyAfterTheBytesAreWritten() throws Exception {
        BlockDemand.Gate gate = armed(listener, 5);
        AtomicBoolean bytesWritten = new AtomicBoolean();
        CompletableFuture<Boolean> read = request(() -> {
            gate.awaitPresent(4, 6);
            return bytesWritten.get();
        });
        assertEquals(5, nextReport());
        assertFalse(read.isDone(), "block 5 is still missing");
        assertTrue(gate.isMissing(5));
        bytesWritten.set(true); // the backend writes the block's bytes
        gate.installed(5);
        assertTrue(read.get(DEADLINE_SECONDS, TimeUnit.SECONDS), "woke before the bytes were written");
        assertEquals(0, gate.missingBlocks());
        assertFalse(gate.isMissing(5));
    }

    @Test
    void theListenerHearsEachMissingBlockOnceInAscendingOrderAcrossRequests() throws Exception {
        BlockDemand.Gate gate = armed(listener, 1, 2, 3, 4);
        CompletableFuture<Void> first = request(() -> {
            gate.awaitPresent(0, 3);
            return null;
        });
        assertEquals(List.of(1L, 2L, 3L), List.of(nextReport(), nextReport(), nextReport()));
        CompletableFuture<Void> second = request(() -> {
            gate.awaitPresent(2, 5);
            return null;
        });
        assertEquals(4, nextReport(), "2 and 3 were reported already");
        for (long block = 1; block <= 4; block++) {
            gate.installed(block);
        }
        first.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        second.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        gate.awaitPresent(0, 5);
        assertNull(reports.poll(), "no block reported twice");
    }

    @Test
    void aWholeBlockWriteMakesTheBlockPresentAndWakesItsWaiters() throws Exception {
        BlockDemand.Gate gate = armed(listener, 3, 9);
        CompletableFuture<Void> read = request(() -> {
            gate.awaitPresent(3, 3);
            return null;
        });
        assertEquals(3, nextReport());
        gate.supersede(2, 4);
        read.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        assertFalse(gate.isMissing(3), "the install arriving for block 3 is dropped");
        assertTrue(gate.isMissing(9));
        assertEquals(1, gate.missingBlocks());
        gate.supersede(10, 9); // an empty range: nothing
        assertEquals(1, gate.missingBlocks());
    }

    @Test
    void nothingMissingReturnsAtOnceAndReportsNothing() {
        BlockDemand.Gate unarmed = new BlockDemand.Gate("test disk", BLOCKS);
        unarmed.awaitPresent(0, BLOCKS - 1);
        assertFalse(unarmed.isMissing(0));
        assertFalse(unarmed.armed());
        assertEquals(0, unarmed.missingBlocks());

        BlockDemand.Gate empty = armed(listener);
        empty.awaitPresent(0, BLOCKS - 1);

        BlockDemand.Gate other = armed(listener, 7);
        other.awaitPresent(0, 6);
        other.awaitPresent(8, BLOCKS - 1);
        assertNull(reports.poll(), "only requests touching a missing block report it");
    }

    @Test
    void disarmStopsReportsButRequestsStillWaitForMissingBlocks() throws Exception {
        BlockDemand.Gate gate = armed(listener, 2);
        gate.disarm();
        gate.disarm();
        assertFalse(gate.armed());
        assertEquals(1, gate.missingBlocks());
        CompletableFuture<Thread> read = new CompletableFuture<>();
        Thread requester = Thread.ofPlatform().start(() -> {
            gate.awaitPresent(2, 2);
            read.complete(Thread.currentThread());
        });
        awaitParked(requester);
        assertFalse(read.isDone());
        gate.installed(2);
        read.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        assertNull(reports.poll(), "a disarmed gate reports nothing");
    }

    @Test
    void armingTwiceIsRefusedAndArmingAfterDisarmReplacesTheMissingSet() {
        BlockDemand.Gate gate = armed(listener, 1);
        assertTrue(gate.armed());
        assertThrows(IllegalStateException.class, () -> gate.arm(blocks(2), listener));
        gate.disarm();
        gate.arm(blocks(2, 3), listener);
        assertFalse(gate.isMissing(1));
        assertEquals(2, gate.missingBlocks());
        assertThrows(IllegalArgumentException.class,
                () -> new BlockDemand.Gate("test disk", BLOCKS).arm(new PageSet(BLOCKS + 1), listener));
    }

    @Test
    void closeReleasesWaitingRequestsAndRefusesArming() throws Exception {
        BlockDemand.Gate gate = armed(listener, 4);
        CompletableFuture<Void> read = request(() -> {
            gate.awaitPresent(4, 4);
            return null;
        });
        assertEquals(4, nextReport());
        gate.close();
        read.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        gate.awaitPresent(4, 4);
        assertFalse(gate.armed());
        assertThrows(IllegalStateException.class, () -> gate.arm(blocks(1), listener));
    }

    @Test
    void anInterruptedRequestKeepsWaitingAndKeepsItsInterrupt() throws Exception {
        BlockDemand.Gate gate = armed(listener, 6);
        AtomicBoolean installed = new AtomicBoolean();
        CompletableFuture<List<Boolean>> read = new CompletableFuture<>();
        Thread requester = Thread.ofPlatform().start(() -> {
            gate.awaitPresent(6, 6);
            read.complete(List.of(installed.get(), Thread.currentThread().isInterrupted()));
        });
        assertEquals(6, nextReport());
        awaitParked(requester);
        requester.interrupt();
        awaitParked(requester);
        installed.set(true);
        gate.installed(6);
        assertEquals(List.of(true, true), read.get(DEADLINE_SECONDS, TimeUnit.SECONDS),
                "returned only once installed, interrupt flag kept");
    }

    @Test
    void blocksAListenerFailedToHearAreReportedByTheNextRequest() throws Exception {
        List<Long> heard = new ArrayList<>();
        AtomicBoolean failOnce = new AtomicBoolean(true);
        BlockDemand.Gate gate = armed(block -> {
            if (failOnce.getAndSet(false)) {
                throw new IllegalStateException("engine gone");
            }
            heard.add(block);
            reports.add(block);
        }, 8);
        assertThrows(IllegalStateException.class, () -> gate.awaitPresent(8, 8));
        CompletableFuture<Void> read = request(() -> {
            gate.awaitPresent(8, 8);
            return null;
        });
        assertEquals(8, nextReport());
        gate.installed(8);
        read.get(DEADLINE_SECONDS, TimeUnit.SECONDS);
        assertEquals(List.of(8L), heard);
    }

    @Test
    void aRangeOffTheDiskIsRefusedWhileBlocksAreMissing() {
        BlockDemand.Gate gate = armed(listener, 0);
        assertThrows(IndexOutOfBoundsException.class, () -> gate.awaitPresent(BLOCKS - 1, BLOCKS));
        assertThrows(IndexOutOfBoundsException.class, () -> gate.awaitPresent(3, 2));
    }
}
