package io.livemig.engine.internal.source;

import io.livemig.api.TimeSource;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The post-copy push window follows the measured bandwidth-delay product, within its bounds. */
class PushWindowTest {

    /** A clock the test moves by hand. */
    private static final class ManualClock implements TimeSource {
        long now;

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void sleepNanos(long nanos) {
            now += Math.max(0, nanos);
        }

        @Override
        public boolean isWallClock() {
            return false;
        }
    }

    @Test
    void theWindowIsTwiceTheMeasuredBandwidthDelayProductOnceBothAreKnown() {
        ManualClock clock = new ManualClock();
        AtomicLong rtt = new AtomicLong(-1);
        PushWindow window = new PushWindow(clock, rtt::get);
        window.start(1_000);

        assertEquals(PushWindow.DEFAULT_BYTES, window.bytes(1_000), "nothing measured yet");
        clock.now += 100_000_000L; // 100 ms, 100 MB pushed: 1 GB/s
        assertEquals(PushWindow.DEFAULT_BYTES, window.bytes(100_001_000), "no round trip measured yet");
        rtt.set(2_000_000L); // 2 ms
        assertEquals(4_000_000L, window.bytes(100_001_000), "2 x 2 ms x 1 GB/s");
    }

    @Test
    void theWindowStaysWithinItsBoundsAndRestartsAfterARecovery() {
        ManualClock clock = new ManualClock();
        AtomicLong rtt = new AtomicLong(50_000L); // 50 µs: loopback
        PushWindow window = new PushWindow(clock, rtt::get);
        window.start(0);
        clock.now += PushWindow.MIN_SAMPLE_NANOS - 1;
        assertEquals(PushWindow.DEFAULT_BYTES, window.bytes(10_000_000), "the rate is not trusted yet");
        clock.now += 1;
        assertEquals(PushWindow.MIN_BYTES, window.bytes(10_000_000), "a tiny product is raised to the floor");

        rtt.set(1_000_000_000L); // 1 s, as over a satellite
        assertEquals(PushWindow.MAX_BYTES, window.bytes(10_000_000), "a huge product is capped");

        window.start(10_000_000); // a new channel: measured afresh
        assertEquals(PushWindow.DEFAULT_BYTES, window.bytes(10_000_000));
    }
}
