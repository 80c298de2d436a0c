package io.livemig.engine.internal.strategy;

import io.livemig.api.Strategy;

/** Finds the strategy class for each {@link Strategy}: one class per strategy, by name. */
public final class Strategies {

    private Strategies() {
    }

    /** @return a new instance of the strategy that implements {@code strategy} */
    public static SourceStrategy forName(Strategy strategy) {
        return switch (strategy) {
            case COLD -> new ColdStrategy();
            case PRECOPY -> new PrecopyStrategy();
            case POSTCOPY -> new PostcopyStrategy();
            case HYBRID -> new HybridStrategy();
            case TRACE_REPLAY -> new TraceReplayStrategy();
        };
    }
}
