package io.livemig.e2e.security;

import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryChannel;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.LinkShape;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A migration secret on one side only: whichever side holds it refuses the other with
 * UNAUTHENTICATED at the handshake, before SETUP, and the other side fails too, told why. No
 * target is made and the source VM keeps running, never paused.
 */
class OneSidedSecretTest {

    private record Outcome(MigrationException source, Throwable destination, Destination made) {
    }

    private static Outcome migrate(InMemoryVm vm, MigrationOptions sourceOptions, MigrationOptions destinationOptions)
            throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        try {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(pair.destination(), destinationOptions);
            MigrationException source = assertThrows(MigrationException.class,
                    () -> LiveMigration.migrate(vm, pair.source(), sourceOptions));
            pair.source().close();
            return new Outcome(source, Scene.failure(received), destination);
        } finally {
            pair.source().close();
            pair.destination().close();
        }
    }

    private static void assertNothingStarted(InMemoryVm vm, Outcome outcome) {
        assertEquals(MigrationPhase.HANDSHAKE, outcome.source().phase(), outcome.source().getMessage());
        assertEquals(SourceVmState.RUNNING, outcome.source().sourceState());
        assertFalse(vm.vcpus().isPaused(), "the source VM keeps running");
        assertEquals(0, outcome.made().targetsMade(), "the destination never got as far as SETUP");
        MigrationException destination = assertInstanceOf(MigrationException.class, outcome.destination());
        assertEquals(MigrationPhase.HANDSHAKE, destination.phase(), destination.getMessage());
    }

    @Test
    void aSourceWithASecretRefusesADestinationWithoutOneBeforeSetup() throws Exception {
        try (InMemoryVm vm = Scene.runningSource()) {
            Outcome outcome = migrate(vm, Scene.options(MigrationSecret.random()).build(),
                    MigrationOptions.defaults());

            ProtocolException refused = assertInstanceOf(ProtocolException.class, outcome.source(),
                    outcome.source().toString());
            assertEquals(ProtocolException.Kind.UNAUTHENTICATED, refused.kind(), refused.getMessage());
            assertTrue(refused.getMessage().contains("the destination does not prove one"), refused.getMessage());
            assertNothingStarted(vm, outcome);
            // The destination is told, in the source's ABORT, that it was refused for want of the secret.
            assertTrue(outcome.destination().getMessage().contains("UNAUTHENTICATED"),
                    outcome.destination().getMessage());
            Scene.assertGuestRuns(vm);
        }
    }

    @Test
    void aDestinationWithASecretRefusesASourceWithoutOneBeforeSetup() throws Exception {
        try (InMemoryVm vm = Scene.runningSource()) {
            Outcome outcome = migrate(vm, MigrationOptions.defaults(),
                    Scene.options(MigrationSecret.random()).build());

            ProtocolException refused = assertInstanceOf(ProtocolException.class, outcome.destination(),
                    outcome.destination().toString());
            assertEquals(ProtocolException.Kind.UNAUTHENTICATED, refused.kind(), refused.getMessage());
            assertTrue(refused.getMessage().contains("requires the migration secret"), refused.getMessage());
            assertNothingStarted(vm, outcome);
            // The source is told, in the destination's ABORT, why it was refused.
            assertTrue(outcome.source().getMessage().contains("requires the migration secret"),
                    outcome.source().getMessage());
            Scene.assertGuestRuns(vm);
        }
    }
}
