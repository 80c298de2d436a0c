package io.livemig.kit.contract;

import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The promises of {@link DirtyTracker}: {@code collect()} is fetch-and-clear, and no write is
 * ever lost: a write between two collects is in the next one, a write racing a collect is in that
 * collect or the next, and every page the running guest changes while tracking runs is reported.
 * Skipped, by name, for a VM without {@link MigratableVm#dirtyTracker()}; the checks that write
 * chosen pages also need the fixture's {@link ProviderFixture#guestWriter}.
 */
public interface DirtyTrackingContract extends ContractTest {

    /**
     * A page written once between two collects is in the next collect, and not in the one after.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void collectReportsAWriteOnceAndThenClearsIt() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            ProviderFixture.GuestWriter writer = Require.writer(fixture(), vm);
            vm.vcpus().pause();
            tracker.start();
            try {
                MemoryLayout layout = vm.memory().layout();
                PageSet before = tracker.collect();
                assertEquals(layout.pageSpan(), before.pageSpan(), "collect() must return a set spanning layout().pageSpan()");
                List<Long> pages = Pages.spread(layout);
                for (long page : pages) {
                    writer.write(page, 8, new byte[] {1, 2, 3, (byte) page});
                }
                PageSet first = tracker.collect();
                for (long page : pages) {
                    assertTrue(first.contains(page), "collect() lost a write: page " + page
                            + " was written after the previous collect() but the next collect() did not report it");
                }
                PageSet second = tracker.collect();
                for (long page : pages) {
                    assertTrue(!second.contains(page), "collect() must clear: page " + page
                            + " written once was reported again by the second collect");
                }
            } finally {
                tracker.stop();
            }
        }
    }

    /**
     * Writes made on another thread while collects run are each reported by some collect.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void noWriteRacingACollectIsLost() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            ProviderFixture.GuestWriter writer = Require.writer(fixture(), vm);
            vm.vcpus().pause();
            MemoryLayout layout = vm.memory().layout();
            List<Long> pages = Require.pagesToWrite(layout, 4096);
            tracker.start();
            try {
                tracker.collect();
                AtomicLong written = new AtomicLong();
                AtomicBoolean stop = new AtomicBoolean();
                CompletableFuture<Void> writes = CompletableFuture.runAsync(() -> {
                    byte[] bytes = new byte[8];
                    for (int i = 0; i < pages.size() && !stop.get(); i++) {
                        bytes[0] = (byte) (i + 1);
                        writer.write(pages.get(i), 0, bytes);
                        written.set(i + 1);
                        if (i % 64 == 63) {
                            // Spread the writes over many collects: all of them landing before the
                            // first one would let a tracker that loses racing writes pass.
                            LockSupport.parkNanos(1_000_000L);
                        }
                    }
                }, task -> Thread.ofPlatform().name("contract-guest-writer").start(task));
                PageSet seen = new PageSet(layout.pageSpan());
                int collects = 0;
                try {
                    while (!writes.isDone()) {
                        seen.addAll(tracker.collect());
                        collects++;
                    }
                    writes.get(60, TimeUnit.SECONDS);
                } finally {
                    stop.set(true);
                }
                seen.addAll(tracker.collect());
                List<Long> lost = new ArrayList<>();
                for (int i = 0; i < written.get(); i++) {
                    if (!seen.contains(pages.get(i))) {
                        lost.add(pages.get(i));
                    }
                }
                assertTrue(lost.isEmpty(), "a write made while collect() runs must not be lost: " + lost.size()
                        + " of " + written.get() + " pages written during " + collects + " collects were never"
                        + " reported, pages " + Pages.describe(lost)
                        + " (fetch-and-clear must take the log atomically, or re-read it after clearing)");
            } finally {
                tracker.stop();
            }
        }
    }

    /**
     * Every page the running guest changes between start() and the last collect() is reported by some collect.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void everyPageTheRunningGuestChangesIsReported() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            MemoryLayout layout = vm.memory().layout();
            vm.vcpus().pause();
            tracker.start();
            try {
                PageSet seen = tracker.collect();
                seen.clear();
                long[] before = Pages.digests(layout, vm.memory()::readPages, vm.memory().populatedPages());
                vm.vcpus().resume();
                for (int i = 0; i < 10; i++) {
                    fixture().letGuestRun(vm, Duration.ofMillis(20));
                    seen.addAll(tracker.collect());
                }
                vm.vcpus().pause();
                seen.addAll(tracker.collect());
                long[] after = Pages.digests(layout, vm.memory()::readPages, vm.memory().populatedPages());
                List<Long> changed = new ArrayList<>();
                List<Long> lost = new ArrayList<>();
                for (int page = 0; page < after.length; page++) {
                    if (after[page] != before[page]) {
                        changed.add((long) page);
                        if (!seen.contains(page)) {
                            lost.add((long) page);
                        }
                    }
                }
                assertTrue(!changed.isEmpty(), "the fixture's guest must write memory while it runs: no page changed"
                        + " in 200 ms of running (ProviderFixture.openSource() should return a writing guest)");
                assertTrue(lost.isEmpty(), "the dirty tracker lost the running guest's writes: " + lost.size() + " of "
                        + changed.size() + " pages changed between start() and the last collect() but no collect()"
                        + " reported them, pages " + Pages.describe(lost));
            } finally {
                tracker.stop();
            }
        }
    }

    /**
     * A write made before start() is forgotten; start() begins with every page clean.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void startBeginsWithEveryPageClean() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            ProviderFixture.GuestWriter writer = Require.writer(fixture(), vm);
            vm.vcpus().pause();
            long page = Pages.spread(vm.memory().layout()).get(0);
            tracker.start();
            writer.write(page, 0, new byte[] {9});
            tracker.start();
            try {
                assertTrue(!tracker.collect().contains(page), "start() must begin with every page clean: page " + page
                        + " written before a restart was reported by the first collect after it");
            } finally {
                tracker.stop();
            }
        }
    }

    /**
     * redirty() puts pages back: the next collect reports them.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void redirtiedPagesAreInTheNextCollect() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            vm.vcpus().pause();
            MemoryLayout layout = vm.memory().layout();
            tracker.start();
            try {
                tracker.collect();
                PageSet again = new PageSet(layout.pageSpan());
                List<Long> pages = Pages.spread(layout);
                pages.forEach(again::add);
                tracker.redirty(again);
                PageSet next = tracker.collect();
                for (long page : pages) {
                    assertTrue(next.contains(page), "redirty() must put pages back: page " + page
                            + " was redirtied but the next collect() did not report it");
                }
            } finally {
                tracker.stop();
            }
        }
    }

    /**
     * collect() and redirty() refuse to run when tracking is stopped; stop() may be called twice.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void collectAfterStopIsRefused() throws Exception {
        try (MigratableVm vm = fixture().openSource()) {
            DirtyTracker tracker = Require.tracker(vm);
            tracker.start();
            tracker.stop();
            tracker.stop();
            assertThrows(IllegalStateException.class, tracker::collect,
                    "collect() after stop() must throw IllegalStateException (tracking is not started)");
            PageSet pages = new PageSet(vm.memory().layout().pageSpan());
            assertThrows(IllegalStateException.class, () -> tracker.redirty(pages),
                    "redirty() after stop() must throw IllegalStateException (tracking is not started)");
        }
    }
}
