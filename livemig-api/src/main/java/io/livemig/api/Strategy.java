package io.livemig.api;

/** Which pages move when. See {@code docs/} and the engines' javadoc for each strategy's details. */
public enum Strategy {
    /** Stop-and-copy: pause, send every page and the state, resume at the destination. */
    COLD,
    /** Iterative pre-copy (Clark et al., NSDI'05): send while running, re-send dirtied pages in rounds. */
    PRECOPY,
    /** Post-copy (Hines et al., VEE'09): move the vCPUs first, then pull and push the pages. */
    POSTCOPY,
    /**
     * Pre-copy for {@link MigrationOptions#hybridRounds()} rounds (fewer if it stalls or reaches
     * {@link MigrationOptions#maxRounds()} or {@link MigrationOptions#maxTotalTime()}), then
     * post-copy for what is still dirty (QEMU's postcopy-after-precopy). It always ends in
     * post-copy: the escalation ladder may throttle the vCPUs meanwhile, but never forces a
     * pre-copy switchover or aborts.
     */
    HYBRID,
    /**
     * Trace and replay (Liu et al., HPDC'09): a checkpoint of the VM (memory and vCPU state) goes
     * while the VM runs on and records its non-deterministic inputs; the destination restores the
     * checkpoint and replays the log segment by segment as it arrives, and the VM stops once what
     * remains replays within the downtime limit. The destination's memory after the last replay
     * is compared page for page with the source's before the switchover commits. Needs a VM with
     * an {@code ExecutionRecorder} and a target with an {@code ExecutionReplayer}.
     */
    TRACE_REPLAY
}
