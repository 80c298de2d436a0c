package io.livemig.engine.internal;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LatencyHistogramTest {

    @Test
    void smallLatenciesGiveExactNearestRankPercentiles() {
        LatencyHistogram h = new LatencyHistogram();
        for (long v : new long[] {5, 1, 3, 2, 4}) {
            h.record(v);
        }
        assertEquals(5, h.count());
        assertEquals(3, h.percentileNanos(50));
        assertEquals(5, h.percentileNanos(99));
        assertEquals(1, h.percentileNanos(20));

        LatencyHistogram hundred = new LatencyHistogram();
        for (long v = 100; v >= 1; v--) {
            hundred.record(v);
        }
        assertEquals(50, hundred.percentileNanos(50));
        assertEquals(99, hundred.percentileNanos(99));
        assertEquals(100, hundred.percentileNanos(100));
    }

    @Test
    void largeLatenciesAreWithinAThousandthAboveTheNearestRankValue() {
        LatencyHistogram h = new LatencyHistogram();
        for (long micros = 1; micros <= 1000; micros++) {
            h.record(micros * 1_000);
        }
        h.record(3_000_000_000L); // one 3 s outlier among 1,001 samples: p99 does not see it
        long p50 = h.percentileNanos(50);
        long p99 = h.percentileNanos(99);
        assertTrue(p50 >= 501_000 && p50 <= 501_000 * 1.001, "p50 " + p50);
        assertTrue(p99 >= 991_000 && p99 <= 991_000 * 1.001, "p99 " + p99);
        long max = h.percentileNanos(100);
        assertTrue(max >= 3_000_000_000L && max <= 3_000_000_000L * 1.001, "max " + max);
    }

    @Test
    void nothingRecordedIsZeroAndANegativeLatencyCountsAsZero() {
        LatencyHistogram h = new LatencyHistogram();
        assertEquals(0, h.percentileNanos(99));
        h.record(-7);
        assertEquals(1, h.count());
        assertEquals(0, h.percentileNanos(50));
    }

    @Test
    void aPercentileOutsideZeroToHundredIsRefused() {
        LatencyHistogram h = new LatencyHistogram();
        assertThrows(IllegalArgumentException.class, () -> h.percentileNanos(0));
        assertThrows(IllegalArgumentException.class, () -> h.percentileNanos(100.5));
        assertThrows(IllegalArgumentException.class, () -> h.percentileNanos(Double.NaN));
    }
}
