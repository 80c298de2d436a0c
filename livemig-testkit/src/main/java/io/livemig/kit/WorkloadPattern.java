package io.livemig.kit;

/** Which pages an in-memory guest workload writes to. */
public enum WorkloadPattern {
    /** No writes at all: the guest idles. */
    IDLE,
    /** Walks the working set page after page, wrapping around. */
    SEQUENTIAL,
    /** Picks each page uniformly at random in the working set. */
    RANDOM,
    /** 90 % of the writes go to the first 10 % of the working set (the hot pages), the rest uniformly. */
    HOTCOLD
}
