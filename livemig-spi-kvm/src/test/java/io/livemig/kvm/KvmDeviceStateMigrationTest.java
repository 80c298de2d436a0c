package io.livemig.kvm;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.kvm.internal.VcpuStateFormat;
import io.livemig.spi.MigrationTarget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The micro-VMM's VM-wide and device state across a migration: the guest's time (its TSC, read
 * by the dirtier guest every round, "time max-step X back B") neither goes back nor jumps by more
 * than the downtime, and its virtio-blk requests are neither lost nor served twice (the guest's
 * counts of requests notified and completed, the device's used index and the requests the two
 * devices served all agree).
 */
class KvmDeviceStateMigrationTest {

    private static final long DISK_BYTES = 64L << 20;
    private static final long DISK_RATE = 8L << 20;
    /** A round of the guest's loop, the host's scheduling of its vCPU thread on a busy machine. */
    private static final Duration STEP_SLACK = Duration.ofMillis(100);
    private static final Pattern TIME = Pattern.compile("(?m)^time max-step (\\d+) back (\\d+)$");
    private static final Pattern DISK_OK = Pattern.compile("(?m)^disk ok (\\d+) writes (\\d+) requests (\\d+)$");

    @Test
    void theKvmClockStandsStillFromTheSaveToTheLoad() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm a = MicroVmm.builder().build(); MicroVmm b = MicroVmm.builder().build()) {
            byte[] saved = new KvmClock(a).saveState();
            long savedNanos = ByteBuffer.wrap(saved).order(ByteOrder.LITTLE_ENDIAN).getLong(8);
            Thread.sleep(1000);
            new KvmClock(b).loadState(saved);
            long loaded = KvmClock.readClockNanos(b.vm());
            // The second slept between the save and the load is not in the clock.
            assertTrue(loaded >= savedNanos && loaded - savedNanos < 500_000_000L,
                    "KVM clock saved at " + savedNanos + " ns reads " + loaded + " ns after the load");
        }
    }

    @Test
    void aLoadedClockMakesTheTscReadTheSavedValueNotTheDestinationsTsc() throws Exception {
        KvmTestSupport.assumeKvm();
        try (MicroVmm a = MicroVmm.builder().build(); MicroVmm b = MicroVmm.builder().build();
             Arena arena = Arena.ofConfined()) {
            KvmClock source = new KvmClock(a);
            KvmClock target = new KvmClock(b);
            long before = KvmClock.readTsc(arena, a.vcpus().get(0));
            byte[] saved = source.saveState();
            // Move b's TSC far ahead of a's, as on a destination host up for years.
            byte[] ahead = saved.clone();
            ByteBuffer.wrap(ahead).order(ByteOrder.LITTLE_ENDIAN).putLong(24 + 8, 1L << 60);
            target.loadState(ahead);
            long farAhead = KvmClock.readTsc(arena, b.vcpus().get(0));
            assumeTrue(farAhead >= 1L << 60, "this host does not offset the guest's TSC (kvm-pvm gives the guest "
                    + "the host's): TSC " + farAhead + " after setting 2^60");

            Thread.sleep(1000);
            target.loadState(saved);
            long after = KvmClock.readTsc(arena, b.vcpus().get(0));
            long khz = a.vcpus().get(0).tscKhz();
            // Time stood still between the save and the load: the second slept is not in it.
            assertTrue(after >= before, "the TSC went back: " + before + " -> " + after);
            assertTrue(after - before < khz * 500, "the TSC jumped " + (after - before) / khz + " ms, "
                    + "though the clock was loaded 1 s after it was saved");
        }
    }

    @Test
    void theVcpuStateCarriesTheTscThatTheClockThenSetsExactly() {
        KvmTestSupport.assumeKvm();
        try (KvmGuest guest = new KvmGuest(MicroVmm.builder().build())) {
            int[] msrs = VcpuStateFormat.savedMsrIndices();
            assertTrue(msrs != null && Arrays.stream(msrs).anyMatch(m -> m == 0x10),
                    "IA32_TSC (0x10) is not among the MSRs the vCPU state saves: " + Arrays.toString(msrs));
            assertEquals(List.of(KvmClock.ID), guest.devices().stream().map(d -> d.id()).toList());
        }
    }

    @Test
    void aClockStateForAnotherVcpuCountOrMalformedIsRefused() {
        KvmTestSupport.assumeKvm();
        try (MicroVmm one = MicroVmm.builder().build(); MicroVmm two = MicroVmm.builder().vcpus(2).build()) {
            KvmClock clock = new KvmClock(one);
            byte[] state = new KvmClock(two).saveState();
            assertThrows(IllegalArgumentException.class, () -> clock.loadState(state));
            assertThrows(IllegalArgumentException.class, () -> clock.loadState(new byte[8]));
        }
    }

    @Test
    void guestTimeAndDiskRequestsContinueAcrossAMigrationWithTheDiskBeingWritten(@TempDir Path dir)
            throws Exception {
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDiskDirtier(dir.resolve("source.img"), DISK_BYTES,
                DISK_RATE, 64L << 20, 300))) {
            assertTrue(eventually(Duration.ofSeconds(20), () -> KvmTestSupport.diskChecksPassed(source.vmm()) >= 1
                    && TIME.matcher(source.vmm().consoleTail()).find()), source.vmm().consoleTail());
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(512L << 20, Duration.ZERO),
                    TimeSource.system());
            Path targetImage = dir.resolve("target.img");
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = pair.destination()) {
                    return LiveMigration.receive(ch, d -> new KvmGuest(MicroVmm.builder()
                            .memoryBytes(d.memoryLayout().memoryBytes())
                            .disk(KvmProvider.openTargetImage(targetImage, d.disks().get(0))).build()),
                            MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = pair.source()) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(Strategy.PRECOPY)
                        .downtimeLimit(Duration.ofMillis(100)).build());
            }
            ReceivedMigration dest = received.get(60, TimeUnit.SECONDS);
            try (MigrationTarget target = dest.target()) {
                MicroVmm destination = ((KvmGuest) target).vmm();
                int before = lastDiskCheck(source.vmm().consoleTail());
                String next = "disk ok " + (before + 1) + " ";
                assertTrue(eventually(Duration.ofSeconds(30), () -> destination.consoleTail().contains(next)
                                && timeLines(destination.consoleTail()).size() >= 3),
                        "the guest did not go on at the destination: " + destination.consoleTail());
                KvmTestSupport.diskChecksPassed(destination); // fails on a "disk FAILED" line

                // Time: the step over the switchover is in the first or second full line printed here.
                List<long[]> lines = timeLines(destination.consoleTail());
                long stepMicros = Math.max(lines.get(0)[0], lines.get(1)[0]);
                long downtimeMicros = report.switchover().downtime().toNanos() / 1000;
                System.out.printf("guest time across the migration: largest step %d us, downtime %d us%n",
                        stepMicros, downtimeMicros);
                assertEquals(0, lines.getLast()[1], "the guest's TSC went backwards: " + destination.consoleTail());
                assertTrue(stepMicros <= downtimeMicros + STEP_SLACK.toNanos() / 1000, "the guest's TSC jumped "
                        + stepMicros + " us over a downtime of " + downtimeMicros + " us: " + report);

                // Requests: what the guest notified and saw completed, what the devices served.
                destination.pause();
                VirtioBlk sourceDisk = source.vmm().disk().orElseThrow();
                VirtioBlk destinationDisk = destination.disk().orElseThrow();
                MemorySegment area = destination.vm().memory().asSlice(DirtierParams.DISK_AREA_BASE, 0x400);
                long notified = area.get(JAVA_LONG_UNALIGNED, 0x318);
                long completed = area.get(JAVA_LONG_UNALIGNED, 0x320);
                int usedInRing = Short.toUnsignedInt(area.get(JAVA_SHORT_UNALIGNED, 0x202));
                long served = sourceDisk.counters().requests() + destinationDisk.counters().requests();
                VirtioMmioState device = VirtioMmioState.decode(destinationDisk.saveState());
                String figures = "guest notified " + notified + ", saw completed " + completed + "; devices served "
                        + sourceDisk.counters().requests() + " + " + destinationDisk.counters().requests()
                        + "; used index " + usedInRing + " in the ring, device's " + device.usedIdx()
                        + ", device's next available " + device.lastAvailIdx();
                System.out.println("virtio-blk across the migration: " + figures);
                assertTrue(sourceDisk.counters().requests() > 0 && destinationDisk.counters().requests() > 0, figures);
                assertTrue(completed <= served && served <= notified && notified <= completed + 1,
                        "a request was lost or served twice: " + figures);
                assertEquals(served & 0xFFFF, device.usedIdx(), figures);
                assertEquals(served & 0xFFFF, usedInRing, figures);
                assertEquals(served & 0xFFFF, device.lastAvailIdx(), figures);
                assertEquals(0, destinationDisk.counters().failed(), figures);
            }
        }
    }

    /** @return the number of the last "disk ok" line in {@code console}, 0 if none */
    private static int lastDiskCheck(String console) {
        Matcher m = DISK_OK.matcher(console);
        int last = 0;
        while (m.find()) {
            last = Integer.parseInt(m.group(1));
        }
        return last;
    }

    /** @return each complete "time max-step X back B" line of {@code console} as {X, B}, in order */
    private static List<long[]> timeLines(String console) {
        List<long[]> lines = new ArrayList<>();
        Matcher m = TIME.matcher(console);
        while (m.find()) {
            lines.add(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))});
        }
        return lines;
    }
}
