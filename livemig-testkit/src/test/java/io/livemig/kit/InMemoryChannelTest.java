package io.livemig.kit;

import io.livemig.api.TimeSource;
import io.livemig.channel.MessageTooLargeException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InMemoryChannelTest {

    /** A clock that only moves when someone sleeps on it: shaping becomes exact arithmetic. */
    private static final class SteppingClock implements TimeSource {
        private long now;

        @Override
        public boolean isWallClock() {
            return false;
        }

        @Override
        public synchronized long nanoTime() {
            return now;
        }

        @Override
        public synchronized void sleepNanos(long nanos) {
            if (nanos > 0) {
                now += nanos;
            }
        }
    }

    @Test
    void bandwidthAndLatencyDelayArrivalOnTheGivenClock() throws Exception {
        SteppingClock clock = new SteppingClock();
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.of(1_000_000, Duration.ofMillis(10)), clock);
        pair.source().send(ByteBuffer.allocate(100_000));
        assertEquals(100_000_000L, clock.nanoTime(), "100 kB at 1 MB/s occupy the link 100 ms");
        ByteBuffer in = ByteBuffer.allocate(200_000);
        assertEquals(100_000, pair.destination().receive(in));
        assertEquals(110_000_000L, clock.nanoTime(), "and arrive 10 ms later");
    }

    @Test
    void orderlyCloseDeliversWhatWasSentThenEnds() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        pair.source().send(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        pair.source().close();
        ByteBuffer in = ByteBuffer.allocate(16);
        assertEquals(3, pair.destination().receive(in));
        assertEquals(-1, pair.destination().receive(in));
        assertThrows(IOException.class, () -> pair.destination().send(ByteBuffer.wrap(new byte[] {1})));
    }

    @Test
    void aBrokenLinkFailsBlockedReceivers() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        CompletableFuture<Integer> blocked = CompletableFuture.supplyAsync(() -> {
            try {
                return pair.destination().receive(ByteBuffer.allocate(16));
            } catch (IOException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Thread.sleep(50);
        pair.source().breakLink();
        Exception e = assertThrows(Exception.class, blocked::join);
        assertTrue(e.getCause() instanceof IOException);
    }

    @Test
    void aMessageLargerThanTheReceiversBufferIsRejected() throws Exception {
        InMemoryChannel.Pair pair = InMemoryChannel.pair(LinkShape.UNLIMITED, TimeSource.system());
        pair.source().send(ByteBuffer.allocate(100));
        assertThrows(MessageTooLargeException.class, () -> pair.destination().receive(ByteBuffer.allocate(10)));
    }
}
