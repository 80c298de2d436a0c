package io.livemig.api;

/** Where the VM is after a migration failed: the one thing an operator must know at once. */
public enum SourceVmState {
    /** The source VM runs, unchanged; the destination discarded its copy. Retry or give up safely. */
    RUNNING,
    /**
     * The source VM is paused and intact; nothing runs at the destination. Resuming the source
     * is safe (the engine does so itself unless told not to).
     */
    PAUSED,
    /** The VM runs at the destination; the source copy is stale and must not be resumed. */
    HANDED_OVER,
    /**
     * The VM's state is split between the hosts (post-copy): neither side alone can run it.
     * The exception's message says which side holds what.
     */
    SPLIT,
    /**
     * Not known. On the source: the destination was told to resume but never confirmed (the link
     * broke after the commit), so it may be running the VM; the source is left paused, because
     * resuming it could run the VM twice. Ask the destination. On the destination, which cannot
     * know the source's state, every failure says UNKNOWN.
     */
    UNKNOWN
}
