package io.livemig.examples.cli;

import io.livemig.kvm.GuestBuilder;
import io.livemig.kvm.Kvm;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code kvm receive}'s rehearsals ({@link Rehearsal#forDestination}): pre-copy on one connection,
 * then post-copy on {@value Rehearsal#DESTINATION_STREAMS} data connections dialled to the
 * rehearsal's own listener, both completed and verified, so that the destination's data
 * connections run compiled code and find receive buffers ready in the real migration.
 */
class DestinationRehearsalTest {

    @Test
    void aDestinationRehearsesPrecopyAndPostcopyOnDataConnections() throws Exception {
        Kvm.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        GuestBuilder.unavailableReason().ifPresent(r -> Assumptions.abort("skipped: " + r));
        Rehearsal rehearsal = Rehearsal.forDestination(2);
        rehearsal.await();
        assertEquals(2, rehearsal.completed(), "both rehearsals completed (see the log for a failure)");
    }
}
