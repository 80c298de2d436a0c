package io.livemig.engine.internal.source;

import io.livemig.api.MigrationPhase;
import io.livemig.api.MigrationReport.SwitchoverStep;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.TimeSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SourceContextTest {

    /** A clock that moves only when told. */
    private static final class StepClock implements TimeSource {
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
    void aMigrationMovesOnlyAlongTheDrawnTransitions() {
        SourceContext context = new SourceContext(new StepClock());
        assertThrows(IllegalStateException.class, () -> context.moveTo(SourceState.STOP_COPY),
                "no pause before the handshake is done");
        context.moveTo(SourceState.LIVE_COPY);
        assertThrows(IllegalStateException.class, () -> context.moveTo(SourceState.HANDED_OVER),
                "no hand-over without a commit");
        context.moveTo(SourceState.STOP_COPY);
        context.moveTo(SourceState.COMMITTED);
        context.moveTo(SourceState.POST_COPY);
        assertThrows(IllegalStateException.class, () -> context.moveTo(SourceState.LIVE_COPY));
        context.moveTo(SourceState.HANDED_OVER);
        context.moveTo(SourceState.DONE);
        assertTrue(SourceState.DONE.next().isEmpty());
    }

    @Test
    void eachStateSaysItsPhaseAndWhereTheVmIs() {
        assertEquals(SourceVmState.RUNNING, SourceState.LIVE_COPY.vmState());
        assertEquals(SourceVmState.PAUSED, SourceState.STOP_COPY.vmState());
        assertEquals(MigrationPhase.STOP_COPY, SourceState.COMMITTED.phase());
        assertEquals(SourceVmState.SPLIT, SourceState.POST_COPY.vmState());
        assertEquals(SourceVmState.HANDED_OVER, SourceState.HANDED_OVER.vmState());
    }

    @Test
    void failuresCarryTheCurrentPhaseAndVmState() {
        SourceContext context = new SourceContext(new StepClock());
        context.moveTo(SourceState.LIVE_COPY);
        context.moveTo(SourceState.STOP_COPY);
        ProtocolException e = context.protocol(ProtocolException.Kind.UNEXPECTED, "x");
        assertEquals(MigrationPhase.STOP_COPY, e.phase());
        assertEquals(SourceVmState.PAUSED, e.sourceState());
        assertEquals(SourceVmState.PAUSED, context.cancelled("y").sourceState());
    }

    @Test
    void theDowntimeIsSplitIntoItsStepsAndTheyAddUp() {
        StepClock clock = new StepClock();
        SourceContext context = new SourceContext(clock);
        context.moveTo(SourceState.LIVE_COPY);
        clock.now = 600;
        context.pauseRequested();
        clock.now = 800;
        context.finalSendStarted(); // before the vCPUs stopped: not the final send
        clock.now = 1_000;
        context.moveTo(SourceState.STOP_COPY);
        clock.now = 1_500;
        context.finalSendStarted();
        clock.now = 1_700;
        context.finalSendStarted(); // only the first counts
        clock.now = 5_000;
        context.stateSaveStarted();
        clock.now = 5_300;
        context.stateSaved();
        clock.now = 6_000;
        context.moveTo(SourceState.COMMITTED);
        context.resumedAt(9_000);
        assertEquals(Duration.ofNanos(8_400), context.downtime());
        List<SwitchoverStep> steps = context.switchoverSteps();
        assertEquals(List.of(new SwitchoverStep(SwitchoverStep.Kind.PAUSE, Duration.ofNanos(400)),
                new SwitchoverStep(SwitchoverStep.Kind.FINAL_SYNC, Duration.ofNanos(500)),
                new SwitchoverStep(SwitchoverStep.Kind.STOP_COPY, Duration.ofNanos(3_500)),
                new SwitchoverStep(SwitchoverStep.Kind.STATE_SAVE, Duration.ofNanos(300)),
                new SwitchoverStep(SwitchoverStep.Kind.STATE_SEND, Duration.ofNanos(700)),
                new SwitchoverStep(SwitchoverStep.Kind.RESUME_WAIT, Duration.ofNanos(3_000))), steps);
        assertEquals(context.downtime(), steps.stream().map(SwitchoverStep::duration).reduce(Duration::plus).orElseThrow());
    }

    @Test
    void aMigrationThatNeverPausedHasNoDowntimeAndNoSteps() {
        SourceContext context = new SourceContext(new StepClock());
        assertEquals(Duration.ZERO, context.downtime());
        assertTrue(context.switchoverSteps().isEmpty());
    }
}
