package io.livemig.engine.internal.strategy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConvergenceMonitorTest {

    @Test
    void aShrinkingRemainderIsProgressEvenWhenEachRoundReDirtiesAboutWhatItSent() {
        // Rounds of an XBZRLE migration (livemig demo, 64-byte writes): every round re-dirties
        // about as many pages as it sent, yet the remainder falls by a quarter a round, and each
        // page costs ~140 bytes on the wire against 4096 in the guest.
        ConvergenceMonitor monitor = new ConvergenceMonitor(3);
        long[][] rounds = {{65_536, 54_338}, {43_258, 43_180}, {31_760, 31_820}, {23_604, 23_237}, {18_468, 18_300}};
        for (long[] r : rounds) {
            long remainingWireBytes = r[1] * 140;
            assertFalse(monitor.stalled(remainingWireBytes, r[1], r[0]), "stalled at " + r[0] + " sent, " + r[1]);
        }
    }

    @Test
    void aRemainderThatStopsFallingStallsAfterStallRounds() {
        ConvergenceMonitor monitor = new ConvergenceMonitor(3);
        assertFalse(monitor.stalled(100_000, 25_000, 30_000));
        assertFalse(monitor.stalled(99_000, 25_000, 25_000));
        assertFalse(monitor.stalled(98_000, 25_000, 25_000));
        assertTrue(monitor.stalled(97_000, 25_000, 25_000), "three rounds without a 5 % new low");
    }

    @Test
    void aGuestDirtyingClearlyMoreThanEachRoundSendsStallsEvenWhileTheRemainderDips() {
        ConvergenceMonitor monitor = new ConvergenceMonitor(2);
        assertFalse(monitor.stalled(1_000_000, 12_000, 10_000));
        assertTrue(monitor.stalled(800_000, 12_000, 10_000));
    }

    @Test
    void qemusThrottleRuleFiresOnTheSecondFastRoundInARow() {
        ConvergenceMonitor monitor = new ConvergenceMonitor(3);
        assertFalse(monitor.dirtyingFast(600, 1000));
        assertTrue(monitor.dirtyingFast(600, 1000));
        assertFalse(monitor.dirtyingFast(600, 1000), "the count starts again after firing");
        assertFalse(monitor.dirtyingFast(400, 1000));
        assertFalse(monitor.dirtyingFast(600, 1000), "a slow round in between resets it");
        assertTrue(monitor.dirtyingFast(600, 1000));
    }
}
