package io.livemig.engine.internal;

import io.livemig.api.MigrationOptions;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What the caller may change while a migration runs, handed from the caller's thread to the
 * migration's: the bandwidth caps (read by the token buckets on every frame), a new downtime
 * limit (taken by the rounds after each round), a request to switch to post-copy (seen between
 * frames), and the release of a held switchover. Validation of when a change still applies is
 * the caller's ({@code SourceMigration}); this only carries values.
 *
 * <p>Thread-safe.
 */
public final class LiveControl {

    private volatile long liveBytesPerSecond;
    private volatile long postcopyBytesPerSecond;
    private volatile boolean postcopyPhase;
    /** Whether the post-copy cap is the live one (the default), and so follows its changes. */
    private final boolean postcopyFollowsLive;
    private final AtomicReference<Duration> newDowntimeLimit = new AtomicReference<>();
    private volatile boolean postcopyRequested;
    private final Duration holdTimeout;
    private final CountDownLatch release = new CountDownLatch(1);
    private volatile boolean held;

    /** @param options the caps and the switchover hold to start from */
    public LiveControl(MigrationOptions options) {
        this.liveBytesPerSecond = options.bandwidthLimitBytesPerSecond();
        this.postcopyBytesPerSecond = options.postcopyBandwidthLimitBytesPerSecond();
        this.postcopyFollowsLive = postcopyBytesPerSecond == liveBytesPerSecond;
        this.holdTimeout = options.switchoverHoldTimeout().orElse(null);
    }

    /** @return the cap in force now, in bytes per second, 0 for none */
    public long bandwidthBytesPerSecond() {
        return postcopyPhase ? postcopyBytesPerSecond : liveBytesPerSecond;
    }

    /** From now on the post-copy cap is in force. */
    public void enterPostcopy() {
        postcopyPhase = true;
    }

    /**
     * Sets the cap of the phase in force, 0 for none. Before post-copy, a post-copy cap that was the
     * live cap (the default) changes with it.
     */
    public void setBandwidth(long bytesPerSecond) {
        if (postcopyPhase) {
            postcopyBytesPerSecond = bytesPerSecond;
        } else {
            liveBytesPerSecond = bytesPerSecond;
            if (postcopyFollowsLive) {
                postcopyBytesPerSecond = bytesPerSecond;
            }
        }
    }

    /** Asks for a new downtime limit, taken by the rounds after the current one. */
    public void setDowntimeLimit(Duration limit) {
        newDowntimeLimit.set(limit);
    }

    /** @return the downtime limit the caller asked for since the last call, if any */
    public Optional<Duration> takeDowntimeLimit() {
        return Optional.ofNullable(newDowntimeLimit.getAndSet(null));
    }

    /** Asks for a switch to post-copy at the next frame boundary. */
    public void requestPostcopy() {
        postcopyRequested = true;
    }

    /** @return whether the caller asked to switch to post-copy */
    public boolean postcopyRequested() {
        return postcopyRequested;
    }

    /** @return how long a held switchover waits, or empty if the options hold none */
    public Optional<Duration> holdTimeout() {
        return Optional.ofNullable(holdTimeout);
    }

    /** Releases a held switchover (now or before it is held). Idempotent. */
    public void release() {
        release.countDown();
    }

    /** @return whether the switchover may go: no hold asked for, or released */
    public boolean released() {
        return holdTimeout == null || release.getCount() == 0;
    }

    /**
     * Waits at most {@code nanos} for the release.
     *
     * @return whether it was released
     * @throws InterruptedException if interrupted while waiting
     */
    public boolean awaitRelease(long nanos) throws InterruptedException {
        return holdTimeout == null || release.await(nanos, TimeUnit.NANOSECONDS);
    }

    /** Notes whether the switchover is being held now (for the progress snapshot). */
    public void held(boolean held) {
        this.held = held;
    }

    /** @return whether the switchover is being held now */
    public boolean isHeld() {
        return held;
    }
}
