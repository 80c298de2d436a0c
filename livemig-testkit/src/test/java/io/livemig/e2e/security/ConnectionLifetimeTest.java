package io.livemig.e2e.security;

import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.MigrationSecret;
import io.livemig.api.MigrationStatus;
import io.livemig.e2e.security.Scene.Destination;
import io.livemig.engine.LiveMigration;
import io.livemig.engine.ReceivedMigration;
import io.livemig.kit.InMemoryVm;
import io.livemig.transport.TcpChannel;
import io.livemig.transport.TcpChannelListener;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

import static io.livemig.e2e.security.Scene.PATIENCE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A destination receiving from a listener accepts its connections itself, and its caller never
 * sees them: so it must close them when the migration ends, or every migration received leaks a
 * socket (and the source's end waits for an I/O timeout to learn that the destination is done).
 */
class ConnectionLifetimeTest {

    @Test
    void aListeningDestinationClosesTheSourcesConnectionOnceTheMigrationEnds() throws Exception {
        MigrationOptions options = Scene.options(MigrationSecret.random()).build();
        try (InMemoryVm vm = Scene.runningSource();
             TcpChannelListener listener = Scene.listen();
             TcpChannel channel = Scene.connect(listener.localAddress())) {
            Destination destination = new Destination();
            CompletableFuture<ReceivedMigration> received = destination.receive(listener, PATIENCE, options);
            MigrationReport report = LiveMigration.migrate(vm, channel, options);
            assertEquals(MigrationStatus.COMPLETED, report.status());
            ReceivedMigration migrated = Scene.value(received);
            assertTrue(migrated.report().verified());

            // Within the I/O timeout: a destination that never closes makes this receive time out instead.
            assertEquals(-1, channel.receive(ByteBuffer.allocate(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES)),
                    "the destination closed its end of the connection in an orderly way");
            migrated.target().close();
        }
    }
}
