package io.livemig.kvm;

import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.PostcopyStats;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.LinkShape;
import io.livemig.kit.RedialableLink;
import io.livemig.spi.MigrationTarget;
import io.livemig.kit.ResumeHookTarget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.livemig.kvm.KvmTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Post-copy and hybrid on KVM: the destination's vCPU runs before its memory has arrived, blocks
 * in KVM_RUN on each missing page (userfaultfd) until the page is installed, and the guest's own
 * self-check keeps passing; a link cut mid post-copy is recovered over a new channel.
 */
class KvmPostcopyTest {

    private record Outcome(MigrationReport report, ResumeHookTarget<KvmGuest> target) {
    }

    private static Outcome migrate(KvmGuest source, InMemoryChannel.Pair pair, Reconnector sourceSide,
                                   Reconnector destinationSide, MigrationOptions options) throws Exception {
        CompletableFuture<ReceivedMigration> received = CompletableFuture.supplyAsync(() -> {
            try (Channel ch = pair.destination()) {
                return LiveMigration.receive(ch, destinationSide, d -> new ResumeHookTarget<>(new KvmGuest(
                        MicroVmm.builder().memoryBytes(d.memoryLayout().memoryBytes()).build()),
                        // Log what the guest writes after resume: those pages may differ from the source.
                        guest -> guest.vmm().vm().setDirtyLogging(true)), MigrationOptions.defaults());
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, task -> Thread.ofPlatform().start(task));
        MigrationReport report;
        try (Channel ch = pair.source()) {
            report = LiveMigration.migrate(source, ch, sourceSide, options);
        }
        @SuppressWarnings("unchecked") // the factory above makes exactly this
        ResumeHookTarget<KvmGuest> target = (ResumeHookTarget<KvmGuest>) received.get(30, TimeUnit.SECONDS).target();
        return new Outcome(report, target);
    }

    @ParameterizedTest
    @EnumSource(value = Strategy.class, names = {"POSTCOPY", "HYBRID"})
    void theGuestRunsBeforeItsMemoryArrivesAndStaysCorrect(Strategy strategy) throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            // 128 MiB/s: a 64 MiB guest's post-copy lasts long enough for the guest to fault.
            InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(128L << 20, Duration.ZERO),
                    TimeSource.system());
            Outcome o = migrate(source, pair, Reconnector.NONE, Reconnector.NONE,
                    MigrationOptions.builder().strategy(strategy).hybridRounds(2).build());
            try (MigrationTarget target = o.target()) {
                assertTrue(o.report().verified(), o.report().toString());
                PostcopyStats p = o.report().postcopy().orElseThrow();
                if (strategy == Strategy.POSTCOPY) {
                    assertTrue(p.demandFaults() > 0, "the guest never waited for a page: " + p);
                }
                KvmTestSupport.assertUnwrittenPagesMatch(source, o.target().target());
                KvmTestSupport.assertGuestContinues(source, o.target().target());
            }
        }
    }

    @Test
    void aLinkCutDuringKvmPostcopyIsRecoveredAndTheGuestContinues() throws Exception {
        KvmTestSupport.assumeGuests();
        try (KvmGuest source = new KvmGuest(KvmTestSupport.runningDirtier(40L << 20))) {
            assertTrue(eventually(Duration.ofSeconds(10), () -> KvmTestSupport.checksPassed(source.vmm()) >= 1));
            LinkShape slow = LinkShape.of(32L << 20, Duration.ZERO);
            RedialableLink link = new RedialableLink(slow, TimeSource.system());
            InMemoryChannel.Pair first = link.first();
            Reconnector sourceSide = link.sourceSide();
            Reconnector destinationSide = link.destinationSide(Duration.ofSeconds(10));
            MigrationOptions options = MigrationOptions.builder().strategy(Strategy.POSTCOPY).listener(e -> {
                if (e instanceof MigrationEvent.PostcopyStarted) {
                    Thread.ofPlatform().start(() -> {
                        try {
                            Thread.sleep(300);
                        } catch (InterruptedException ignored) {
                            return;
                        }
                        first.source().breakLink();
                    });
                }
            }).build();
            Outcome o = migrate(source, first, sourceSide, destinationSide, options);
            try (MigrationTarget target = o.target()) {
                PostcopyStats p = o.report().postcopy().orElseThrow();
                assertEquals(1, p.recoveries(), p.toString());
                assertTrue(p.recovered());
                assertTrue(o.report().verified(), "nothing lost across the cut: " + o.report());
                KvmTestSupport.assertUnwrittenPagesMatch(source, o.target().target());
                KvmTestSupport.assertGuestContinues(source, o.target().target());
            }
        }
    }
}
