package io.livemig.engine.internal.destination;

import io.livemig.api.TimeSource;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.Wire;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

/**
 * {@link ReceiveBuffers}: one spare receive buffer of the default frame limit per JVM, made while
 * a destination waits or given back by the last migration's link, so that the next link allocates
 * nothing (16 MiB of direct memory, 9-80 ms on a virtualised host).
 */
class ReceiveBuffersTest {

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
