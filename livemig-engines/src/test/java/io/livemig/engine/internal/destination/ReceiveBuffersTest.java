package io.livemig.engine.internal.destination;

import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.Wire;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

/**
 * {@link ReceiveBuffers}: spare receive buffers of the default frame limit, made while a
 * destination waits or given back by the last migration's links (its data connections' too), so
 * that the next links allocate nothing (16 MiB of direct memory each, 9-80 ms on a virtualised
 * host).
 */
class ReceiveBuffersTest {

    /** Takes every spare there is, so that a test counts only its own. */
    private static void takeAllSpares() {
        while (ReceiveBuffers.spares() > 0) {
            ReceiveBuffers.take(Wire.DEFAULT_MAX_FRAME_BYTES);
        }
    }

    @Test
    void aBufferGivenBackIsTheNextLinksClearedAndASmallOneIsNotKept() {
        ReceiveBuffers.prepareInBackground();
        ByteBuffer first = ReceiveBuffers.take(Wire.DEFAULT_MAX_FRAME_BYTES); // waits for the one being made
        assertTrue(first.capacity() >= Wire.DEFAULT_MAX_FRAME_BYTES);
        first.position(100).limit(200);
        ReceiveBuffers.giveBack(first);
        ByteBuffer second = ReceiveBuffers.take(Wire.DEFAULT_MAX_FRAME_BYTES);
        assertSame(first, second, "the given-back buffer is reused");
        assertEquals(0, second.position());
        assertEquals(second.capacity(), second.limit());

        ReceiveBuffers.giveBack(ByteBuffer.allocateDirect(Wire.MIN_MAX_FRAME_BYTES));
        ByteBuffer third = ReceiveBuffers.take(Wire.DEFAULT_MAX_FRAME_BYTES);
        assertTrue(third.capacity() >= Wire.DEFAULT_MAX_FRAME_BYTES, "a buffer below the default limit is not kept");
        assertNotSame(second, third);
    }

    @Test
    void noMoreThanTheirLimitOfSparesAreKept() {
        takeAllSpares();
        for (int i = 0; i < ReceiveBuffers.MAX_SPARES + 2; i++) {
            ReceiveBuffers.giveBack(ByteBuffer.allocateDirect(Wire.DEFAULT_MAX_FRAME_BYTES));
        }
        assertEquals(ReceiveBuffers.MAX_SPARES, ReceiveBuffers.spares());
        takeAllSpares();
    }

    @Test
    void closedDataConnectionsGiveTheirBuffersBackAndTheNextOnesTakeThem() throws Exception {
        takeAllSpares();
        int connections = 3;
        Arrivals arrivals = mock(Arrivals.OneChannel.class);
        when(arrivals.stream(any(), any())).thenAnswer(call -> new Greeter.Greeted(
                blockingChannel(), null, Wire.DEFAULT_MAX_FRAME_BYTES, 0));
        TargetSetup setup = mock(TargetSetup.class);
        when(setup.applierFor(any())).thenReturn(mock(PageApplier.class));
        DestinationLink control = mock(DestinationLink.class);
        when(control.maxFrameBytes()).thenReturn(Wire.DEFAULT_MAX_FRAME_BYTES);
        DestinationContext context = new DestinationContext(TimeSource.system());

        DataStreams first = DataStreams.accept(connections, arrivals, new byte[16], setup, control, context,
                Duration.ofSeconds(5), Duration.ofSeconds(5));
        assertEquals(0, ReceiveBuffers.spares());
        first.close();
        assertEquals(connections, ReceiveBuffers.spares(), "each connection's buffer is kept");

        DataStreams second = DataStreams.accept(connections, arrivals, new byte[16], setup, control, context,
                Duration.ofSeconds(5), Duration.ofSeconds(5));
        assertEquals(0, ReceiveBuffers.spares(), "the next migration's connections took them");
        second.close();
        assertEquals(connections, ReceiveBuffers.spares());
        verify(control, never()).abort(any(), any());
        takeAllSpares();
    }

    /** A channel whose receive waits until it is closed, then fails as a closed socket does. */
    private static Channel blockingChannel() throws Exception {
        Channel channel = mock(Channel.class);
        CountDownLatch closed = new CountDownLatch(1);
        when(channel.maxMessageBytes()).thenReturn(Wire.DEFAULT_MAX_FRAME_BYTES);
        when(channel.peer()).thenReturn("test");
        when(channel.receive(any())).thenAnswer(call -> {
            closed.await();
            throw new IOException("closed");
        });
        doAnswer(call -> {
            closed.countDown();
            return null;
        }).when(channel).close();
        return channel;
    }

    @Test
    void aLinkThatReleasedItsBufferReceivesNothingMore() throws Exception {
        Channel channel = mock(Channel.class);
        when(channel.maxMessageBytes()).thenReturn(Wire.DEFAULT_MAX_FRAME_BYTES);
        DestinationLink link = new DestinationLink(channel, Duration.ofSeconds(5),
                new DestinationContext(TimeSource.system()), new MigrationCounters());
        link.release();
        assertThrows(IllegalStateException.class, link::receive);
        verify(channel, never()).receive(any());
    }
}
