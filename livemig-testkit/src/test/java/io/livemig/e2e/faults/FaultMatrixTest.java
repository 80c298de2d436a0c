package io.livemig.e2e.faults;

import io.livemig.api.MigrationAbortedException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationOptions;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.channel.Reconnector;
import io.livemig.e2e.faults.FaultyLink.Fault;
import io.livemig.e2e.faults.FaultyLink.Phase;
import io.livemig.e2e.faults.TwoHosts.DestinationEnd;
import io.livemig.e2e.faults.TwoHosts.SourceEnd;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.RedialableLink;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every strategy, the link failing at every phase of the protocol: where each side ends, read as
 * a table. The fault strikes when the destination receives the phase's first frame
 * ({@link FaultyLink}): CUT lets the destination act on that frame, LOST and DIES keep it from
 * seeing it (DIES closes the destination's end, as the kernel does for a killed process). With
 * REDIAL either side can get a new channel for the recovery window (post-copy recovery, and
 * settling a switchover cut after COMMIT); with NONE it cannot.
 *
 * <p>What the rows pin down: before COMMIT went out the source's VM runs again and the destination
 * discards its target (never run); after COMMIT, without a way to ask, the source stays paused and
 * says UNKNOWN, and a destination that resumed keeps its VM (or, in post-copy, stops it: it cannot
 * run without its missing pages); asked, the destination's answer settles it (COMPLETED, or
 * RUNNING again if the destination never saw COMMIT); in post-copy without recovery both sides say
 * SPLIT and the destination stops its VM; with recovery post-copy completes. Never do both hosts
 * run the VM.
 */
class FaultMatrixTest {

    @ParameterizedTest(name = "{0}: {1} at {2}, {3} -> source {4}, destination {5}")
    @CsvSource(delimiter = '|', textBlock = """
            # strategy | fault | at          | reconnect | source    | destination
            COLD       | LOST  | HANDSHAKE   | NONE      | RUNNING   | NO_TARGET
            COLD       | CUT   | SETUP       | NONE      | RUNNING   | DISCARDED
            COLD       | CUT   | SWITCHOVER  | NONE      | RUNNING   | DISCARDED
            COLD       | DIES  | SWITCHOVER  | NONE      | RUNNING   | DISCARDED
            COLD       | LOST  | COMMIT      | NONE      | UNKNOWN   | DISCARDED
            COLD       | LOST  | COMMIT      | REDIAL    | RUNNING   | DISCARDED
            COLD       | CUT   | COMMIT      | NONE      | UNKNOWN   | RUNS
            COLD       | CUT   | COMMIT      | REDIAL    | COMPLETED | RUNS
            PRECOPY    | LOST  | HANDSHAKE   | NONE      | RUNNING   | NO_TARGET
            PRECOPY    | CUT   | SETUP       | NONE      | RUNNING   | DISCARDED
            PRECOPY    | CUT   | ROUND_0     | NONE      | RUNNING   | DISCARDED
            PRECOPY    | DIES  | ROUND_0     | NONE      | RUNNING   | DISCARDED
            PRECOPY    | CUT   | LATER_ROUND | NONE      | RUNNING   | DISCARDED
            PRECOPY    | CUT   | SWITCHOVER  | NONE      | RUNNING   | DISCARDED
            PRECOPY    | LOST  | COMMIT      | NONE      | UNKNOWN   | DISCARDED
            PRECOPY    | LOST  | COMMIT      | REDIAL    | RUNNING   | DISCARDED
            PRECOPY    | CUT   | COMMIT      | NONE      | UNKNOWN   | RUNS
            PRECOPY    | CUT   | COMMIT      | REDIAL    | COMPLETED | RUNS
            POSTCOPY   | LOST  | HANDSHAKE   | NONE      | RUNNING   | NO_TARGET
            POSTCOPY   | CUT   | SETUP       | NONE      | RUNNING   | DISCARDED
            POSTCOPY   | CUT   | SWITCHOVER  | NONE      | RUNNING   | DISCARDED
            POSTCOPY   | LOST  | COMMIT      | NONE      | UNKNOWN   | DISCARDED
            POSTCOPY   | LOST  | COMMIT      | REDIAL    | RUNNING   | DISCARDED
            POSTCOPY   | CUT   | COMMIT      | NONE      | UNKNOWN   | STOPPED
            POSTCOPY   | CUT   | COMMIT      | REDIAL    | COMPLETED | RUNS
            POSTCOPY   | CUT   | POSTCOPY    | NONE      | SPLIT     | STOPPED
            POSTCOPY   | DIES  | POSTCOPY    | NONE      | SPLIT     | STOPPED
            POSTCOPY   | CUT   | POSTCOPY    | REDIAL    | COMPLETED | RUNS
            HYBRID     | LOST  | HANDSHAKE   | NONE      | RUNNING   | NO_TARGET
            HYBRID     | CUT   | SETUP       | NONE      | RUNNING   | DISCARDED
            HYBRID     | CUT   | ROUND_0     | NONE      | RUNNING   | DISCARDED
            HYBRID     | CUT   | LATER_ROUND | NONE      | RUNNING   | DISCARDED
            HYBRID     | CUT   | SWITCHOVER  | NONE      | RUNNING   | DISCARDED
            HYBRID     | LOST  | COMMIT      | REDIAL    | RUNNING   | DISCARDED
            HYBRID     | CUT   | COMMIT      | NONE      | UNKNOWN   | STOPPED
            HYBRID     | CUT   | POSTCOPY    | NONE      | SPLIT     | STOPPED
            HYBRID     | CUT   | POSTCOPY    | REDIAL    | COMPLETED | RUNS
            """)
    void aFailingLinkLeavesEachSideWhereTheTableSays(Strategy strategy, Fault fault, Phase at, String reconnect,
                                                     SourceEnd source, DestinationEnd destination) throws Exception {
        TwoHosts hosts = new TwoHosts();
        try {
            // Hybrid hands to post-copy what round 0 (some 30 ms) left dirty; after a second round,
            // which can be over in a millisecond, a guest that did not get the CPU may have left
            // nothing, and then there is no post-copy to cut.
            MigrationOptions options = TwoHosts.options(strategy)
                    .hybridRounds(at == Phase.LATER_ROUND ? 2 : 1).build();
            FaultyLink faulty;
            if (reconnect.equals("REDIAL")) {
                RedialableLink link = new RedialableLink(TwoHosts.shape(), TimeSource.system());
                faulty = new FaultyLink(link.first(), at, fault);
                hosts.migrate(faulty.source(), link.sourceSide(), faulty.destination(),
                        link.destinationSide(Duration.ofMillis(100)), options);
            } else {
                faulty = new FaultyLink(InMemoryChannel.pair(TwoHosts.shape(), TimeSource.system()), at, fault);
                hosts.migrate(faulty.source(), Reconnector.NONE, faulty.destination(), Reconnector.NONE, options);
            }
            assertTrue(faulty.struck(), "the migration never reached " + at + ": " + hosts.sourceError());
            hosts.assertSource(source);
            hosts.assertDestination(destination);
            hosts.assertAtMostOneRuns();
            boolean pausing = hosts.events().stream().anyMatch(e -> e instanceof MigrationEvent.SwitchoverStarted);
            assertEquals(at.compareTo(Phase.SWITCHOVER) >= 0, pausing,
                    "the source's listener heard of the switchover iff the fault came at or after it");
        } finally {
            hosts.close();
        }
    }

    /**
     * The peer fails rather than the link: the destination's hypervisor cannot make the VM, or a
     * device refuses its state at COMMIT; the source's cannot read guest memory in round 0. The
     * failing side says why in an ABORT, and the other ends as if the link had failed there,
     * except that an ABORT answering COMMIT tells the source the destination did not resume.
     */
    @ParameterizedTest(name = "{0}: {1} -> source {2}, destination {3}")
    @CsvSource(delimiter = '|', textBlock = """
            # strategy | what fails                              | source  | destination
            PRECOPY    | DESTINATION_CANNOT_CREATE_THE_VM        | RUNNING | NO_TARGET
            COLD       | DESTINATION_DEVICE_REFUSES_STATE        | RUNNING | DISCARDED
            POSTCOPY   | DESTINATION_DEVICE_REFUSES_STATE        | RUNNING | DISCARDED
            PRECOPY    | SOURCE_CANNOT_READ_MEMORY_IN_ROUND_0    | RUNNING | DISCARDED
            HYBRID     | SOURCE_CANNOT_READ_MEMORY_IN_ROUND_0    | RUNNING | DISCARDED
            """)
    void aFailingPeerSaysSoAndTheOtherSideEndsCleanly(Strategy strategy, String fails, SourceEnd source,
                                                      DestinationEnd destination) throws Exception {
        TwoHosts hosts = new TwoHosts();
        try {
            MigrationOptions options = TwoHosts.options(strategy).build();
            InMemoryChannel.Pair pair = InMemoryChannel.pair(TwoHosts.shape(), TimeSource.system());
            switch (fails) {
                case "DESTINATION_CANNOT_CREATE_THE_VM" -> hosts.migrate(hosts.sourceVm(), pair.source(),
                        Reconnector.NONE, pair.destination(), Reconnector.NONE, TwoHosts::failingToCreate, options);
                case "DESTINATION_DEVICE_REFUSES_STATE" -> hosts.migrate(hosts.sourceVm(), pair.source(),
                        Reconnector.NONE, pair.destination(), Reconnector.NONE, TwoHosts::refusingState, options);
                case "SOURCE_CANNOT_READ_MEMORY_IN_ROUND_0" -> hosts.migrate(
                        FaultyVms.failingToRead(hosts.sourceVm(), 20), pair.source(), Reconnector.NONE,
                        pair.destination(), Reconnector.NONE, t -> t, options);
                default -> throw new IllegalArgumentException(fails);
            }
            hosts.assertSource(source);
            hosts.assertDestination(destination);
            hosts.assertAtMostOneRuns();
            if (fails.startsWith("DESTINATION")) {
                assertInstanceOf(MigrationAbortedException.class, hosts.sourceError(),
                        "the destination said why in an ABORT");
            } else {
                assertInstanceOf(MigrationAbortedException.class, hosts.destinationError(),
                        "the source said why in an ABORT");
            }
        } finally {
            hosts.close();
        }
    }
}
