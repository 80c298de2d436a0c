package io.livemig.api;

/**
 * Receives a migration's {@link MigrationEvent}s. Called on the migration's own thread, in
 * order; a listener must return quickly (hand heavy work to another thread) and must not throw:
 * an exception it throws is logged and otherwise ignored.
 */
@FunctionalInterface
public interface MigrationListener {

    /** A listener that ignores every event. */
    MigrationListener NONE = event -> { };

    /**
     * Hears one event, on the migration's thread and in order; returns quickly and does not
     * throw (see above).
     *
     * @param event the event
     */
    void onEvent(MigrationEvent event);
}
