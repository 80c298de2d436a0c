package io.livemig.kvm;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.spi.MigrationTarget;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dirtier in replayable mode: its time from the VMM's clock port, its idle time as sleep
 * requests, a round of writes per clock read; it dirties memory fast with few input exits and
 * keeps checking itself ok, here and after a migration.
 */
class ReplayableDirtierTest {

    private static final Logger LOG = LoggerFactory.getLogger(ReplayableDirtierTest.class);
    private static final long MEMORY_BYTES = 64L << 20;
    /** "tick n writes W", then "time max-step ... back B", then "replay clock-reads R sleeps S batch N". */
    private static final Pattern PROGRESS = Pattern.compile(
            "tick (\\d+) writes (\\d+)\\ntime max-step \\d+ back (\\d+)\\nreplay clock-reads (\\d+) sleeps (\\d+) batch (\\d+)\\n");

    /** The last complete progress report on the console: writes, back steps, clock reads, sleeps, batch. */
    private record Progress(long writes, long back, long clockReads, long sleeps, long batch) {
        static Progress last(String console) {
            Matcher m = PROGRESS.matcher(console);
            Progress p = null;
            while (m.find()) {
                p = new Progress(Long.parseLong(m.group(2)), Long.parseLong(m.group(3)), Long.parseLong(m.group(4)),
                        Long.parseLong(m.group(5)), Long.parseLong(m.group(6)));
            }
            if (p == null) {
                throw new AssertionError("no replayable progress report on the console:\n" + console);
            }
            return p;
        }
    }

    private static MicroVmm running(long bytesPerSecond, boolean random, long checkMillis) throws Exception {
        byte[] image = KvmTestSupport.dirtier();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(MEMORY_BYTES).build();
        vmm.loadMultiboot(image);
        new DirtierParams(4L << 20, 32L << 20, 4096, random, bytesPerSecond, 100, checkMillis, 7)
                .withReplayable(true).writeTo(vmm.vm(), vmm.vcpus().get(0).tscKhz());
        vmm.start();
        vmm.resume();
        return vmm;
    }

    @Test
    void replayableModeDirtiesAPageAWriteWithAtMostTwoInputExitsPerRound() throws Exception {
        // 400 MiB/s of whole pages: rounds of 102 writes, about one a ms. Sequential, so that every
        // write of a 50 ms interval (5000 at the rate, of 8192 pages) dirties a page of its own.
        try (MicroVmm vmm = running(400L << 20, false, 200)) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(vmm) >= 1), vmm.consoleTail());
            KvmVm vm = vmm.vm();
            long[] words = new long[(int) (vm.pageSpan() / 64 + 1)];
            vm.setDirtyLogging(true);
            vm.fetchDirtyLog(words);
            Progress before = Progress.last(vmm.consoleTail());
            int vcpuThread = vmm.vcpus().get(0).threadId();
            long cpuStart = cpuNanos(vcpuThread);
            long start = System.nanoTime();
            long dirtied = 0;
            while (System.nanoTime() - start < 500_000_000L) {
                Thread.sleep(50);
                dirtied += vm.fetchDirtyLog(words);
            }
            long nanos = System.nanoTime() - start;
            long cpuNanos = cpuNanos(vcpuThread) - cpuStart;
            vmm.pause();
            dirtied += vm.fetchDirtyLog(words);
            Progress after = Progress.last(vmm.consoleTail());
            long writes = after.writes() - before.writes();
            long inputs = after.clockReads() - before.clockReads() + after.sleeps() - before.sleeps();
            double mibPerSecond = dirtied * 4096.0 / (1 << 20) / (nanos / 1e9);
            // Per second the vCPU thread ran: what the guest does when it gets a CPU, however loaded the host.
            double mibPerCpuSecond = dirtied * 4096.0 / (1 << 20) / (cpuNanos / 1e9);
            double rounds = after.clockReads() - before.clockReads();
            LOG.info("replayable dirtier: {} pages dirtied in {} ms ({} MiB/s; {} MiB/s of vCPU time, {} ms of it), {}"
                            + " writes, {} clock reads, {} sleeps, {} input exits a ms, {} bytes of input a ms, {} writes a round",
                    dirtied, nanos / 1_000_000, Math.round(mibPerSecond), Math.round(mibPerCpuSecond),
                    cpuNanos / 1_000_000, writes, after.clockReads() - before.clockReads(),
                    after.sleeps() - before.sleeps(), String.format("%.2f", inputs / (nanos / 1e6)),
                    String.format("%.2f", 4 * rounds / (nanos / 1e6)), after.batch());
            assertTrue(KvmTestSupport.checksPassed(vmm) >= 2, vmm.consoleTail());
            assertEquals(102, after.batch(), "a round is the writes of 1 ms at 400 MiB/s of 4 KiB");
            assertTrue(writes > 0 && inputs > 0, "no progress between two reports:\n" + vmm.consoleTail());
            // At most a clock read and a sleep a round: two input exits per 102 writes.
            assertTrue(inputs * 51 <= writes + 2 * after.batch(), inputs + " input exits for " + writes + " writes");
            assertEquals(0, after.back(), "the VMM's clock went back");
            assertTrue(dirtied >= writes / 2, "only " + dirtied + " pages dirtied by " + writes + " writes");
        }
    }

    /** {@return the nanoseconds kernel thread {@code tid} of this process has run, guest time included} */
    private static long cpuNanos(int tid) throws Exception {
        assertTrue(tid > 0, "the vCPU thread is not bound");
        String schedstat = Files.readString(Path.of("/proc/self/task/" + tid + "/schedstat")).strip();
        return Long.parseLong(schedstat.split(" ")[0]);
    }

    @Test
    void unpacedReplayableModeSizesItsRoundsToTheClock() throws Exception {
        try (MicroVmm vmm = running(0, true, 300)) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(vmm) >= 1), vmm.consoleTail());
            vmm.pause();
            Progress p = Progress.last(vmm.consoleTail());
            assertEquals(0, p.sleeps(), "an unpaced guest asked to sleep");
            assertTrue(p.batch() > 1 && p.writes() >= p.clockReads() * 2, "rounds did not grow: " + p);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"COLD", "PRECOPY"})
    void aMigratedReplayableGuestKeepsCheckingOk(Strategy strategy) throws Exception {
        try (KvmGuest source = new KvmGuest(running(40L << 20, true, 300));
             TcpChannelListener listener = TcpChannelListener.bind(
                     new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), Duration.ofSeconds(10))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = listener.accept(Duration.ofSeconds(30))) {
                    return LiveMigration.receive(ch, d -> new KvmGuest(
                            MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes()).build()),
                            MigrationOptions.defaults());
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }, task -> Thread.ofPlatform().start(task));
            MigrationReport report;
            try (Channel ch = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5), Duration.ofSeconds(10))) {
                report = LiveMigration.migrate(source, ch, MigrationOptions.builder().strategy(strategy).build());
            }
            try (MigrationTarget target = received.get().target()) {
                assertEquals(Verification.VERIFIED, report.verification().outcome(), report.toString());
                MicroVmm destination = ((KvmGuest) target).vmm();
                int before = KvmTestSupport.checksPassed(source.vmm());
                assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(destination) >= 2),
                        "destination console: " + destination.consoleTail());
                assertTrue(destination.consoleTail().contains("check ok " + (before + 1)),
                        "the guest's counters did not continue from " + before + ": " + destination.consoleTail());
                assertTrue(Progress.last(destination.consoleTail()).clockReads()
                        > Progress.last(source.vmm().consoleTail()).clockReads(), "no clock read at the destination");
            }
        }
    }
}
