package io.livemig.kit;

import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.LogSegment;

import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * An {@link ExecutionRecorder} that hands every call to another one and passes each segment it
 * drains through a function: how a test of trace and replay corrupts a log on its way (a wrong
 * value, a wrong record kind) to show that the destination or the verification catches it. Give
 * it to a {@link ForwardingVm} that overrides {@code executionRecorder()}.
 *
 * <p>Thread-safe as the inner recorder and the function are.
 */
public final class AlteringRecorder implements ExecutionRecorder {

    private final ExecutionRecorder inner;
    private final UnaryOperator<LogSegment> alter;

    /**
     * Creates an {@code AlteringRecorder}.
     *
     * @param inner the recorder every call goes to
     * @param alter what becomes of each drained segment (the identity for most)
     */
    public AlteringRecorder(ExecutionRecorder inner, UnaryOperator<LogSegment> alter) {
        this.inner = Objects.requireNonNull(inner, "inner");
        this.alter = Objects.requireNonNull(alter, "alter");
    }

    @Override
    public String format() {
        return inner.format();
    }

    @Override
    public long start() {
        return inner.start();
    }

    @Override
    public LogSegment drain() {
        return alter.apply(inner.drain());
    }

    @Override
    public long position() {
        return inner.position();
    }

    @Override
    public void stop() {
        inner.stop();
    }
}
