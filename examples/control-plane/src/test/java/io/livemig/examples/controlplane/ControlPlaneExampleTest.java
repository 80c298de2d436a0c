package io.livemig.examples.controlplane;

import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationProgress;
import io.livemig.api.MigrationStatus;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The control-plane example runs as its javadoc says. */
class ControlPlaneExampleTest {

    @Test
    void theExamplePollsLiftsTheCapReleasesTheHoldAndComposesTheFutures() throws Exception {
        ControlPlaneExample.Outcome outcome = ControlPlaneExample.run();
        assertEquals(MigrationStatus.COMPLETED, outcome.report().status());
        assertTrue(outcome.report().verified(), "verified page for page");
        assertTrue(outcome.destination().verified());
        assertEquals(outcome.report().migrationId(), outcome.destination().migrationId(), "one id on both sides");
        assertFalse(outcome.polls().isEmpty());
        MigrationProgress lastPoll = outcome.polls().get(outcome.polls().size() - 1);
        assertTrue(lastPoll.switchoverHeld(), "polled while the switchover was held: " + lastPoll);
        assertEquals(MigrationPhase.LIVE_COPY, lastPoll.phase(), "the VM still ran at the source");
        assertEquals(1, outcome.heldEvents(), "one SwitchoverHeld event");
        assertEquals(1L << 20, outcome.capBeforeChange());
        assertEquals(0, outcome.capAfterChange(), "the cap was lifted mid-flight");
    }
}
