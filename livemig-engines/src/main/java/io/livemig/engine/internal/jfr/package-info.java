/**
 * livemig's JDK Flight Recorder events ({@link io.livemig.engine.internal.jfr.JfrEvents}): rounds,
 * switchover steps and whole migrations at the source, post-copy demand faults at the destination.
 * They are enabled by default in every recording ({@code -XX:StartFlightRecording}, a
 * {@code jdk.jfr.Recording}); a settings file turns them off by name ({@code livemig.Round} and so on).
 */
package io.livemig.engine.internal.jfr;
