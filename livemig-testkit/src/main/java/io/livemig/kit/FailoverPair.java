package io.livemig.kit;

import io.livemig.spi.HotPlug;
import io.livemig.spi.VmOperationException;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * A fake failover pair, as Linux's net_failover builds one: a pass-through NIC (the primary,
 * which cannot save its state) bonded in the guest with a virtual NIC (the standby, which migrates
 * with the VM). Its {@link #hotPlug()} is what a kit VM offers as its hot-plug capability: an unplug
 * makes the guest's bond switch its traffic to the standby and then acknowledge, after
 * {@code ackDelay}; a plug gives the guest the primary back, and the bond switches to it.
 *
 * <p>The guest's side counts packets: the guest sends one every {@link #PACKET_NANOS}, on the
 * primary while it is plugged and enslaved, else on the standby. A packet sent while neither
 * carries traffic would be lost; the bond switches to the standby before it acknowledges an
 * unplug and to the primary once it is plugged, so the loss counted stays zero, which is what the
 * failover is for and what the tests check. The counts are computed from the times of the
 * switches, so the pair needs no thread.
 *
 * <p>Behaviours for tests: a guest that never acknowledges ({@link #neverAcknowledge}), and a plug
 * that fails at the destination ({@link #failPlug}). One pair serves one side: give the source VM
 * and the destination's target each their own, and {@link #continueFrom} the source's counts.
 *
 * <p>Thread-safe.
 */
public final class FailoverPair {

    /** The guest sends a packet every millisecond. */
    public static final long PACKET_NANOS = 1_000_000L;

    private final String primaryId;
    private final Duration ackDelay;
    private volatile boolean acknowledges = true;
    private volatile boolean plugFails;
    private boolean primaryActive;
    private long since = System.nanoTime();
    private long onPrimary;
    private long onStandby;
    private long lost;
    private int unplugs;
    private int plugs;

    /**
     * Creates the pair, its primary plugged or not.
     *
     * @param primaryId     the pass-through device's id
     * @param ackDelay      how long the guest takes to switch its bond and acknowledge an unplug
     * @param primaryActive whether the primary is plugged and carries the traffic now (a source's
     *                      pair: true; a destination's, before the plug: false)
     */
    public FailoverPair(String primaryId, Duration ackDelay, boolean primaryActive) {
        this.primaryId = primaryId;
        this.ackDelay = ackDelay;
        this.primaryActive = primaryActive;
    }

    /** From now on the guest ignores unplug requests (they time out). */
    public void neverAcknowledge() {
        acknowledges = false;
    }

    /** From now on plugging the primary fails. */
    public void failPlug() {
        plugFails = true;
    }

    /**
     * Continues the guest's packet counts from another side's pair: the destination's guest is the
     * source's, which migrated.
     *
     * @param other the pair whose counts to start from
     */
    public synchronized void continueFrom(FailoverPair other) {
        PacketCounts c = other.counts();
        onPrimary = c.onPrimary();
        onStandby = c.onStandby();
        lost = c.lost();
        since = System.nanoTime();
    }

    /** {@return the capability to give to a kit VM's builder} */
    public HotPlug hotPlug() {
        return new HotPlug() {
            @Override
            public void unplug(String deviceId, Duration timeout) throws TimeoutException {
                requireOurs(deviceId);
                if (!acknowledges) {
                    sleep(timeout);
                    throw new TimeoutException("the guest did not release " + deviceId + " within "
                            + timeout.toMillis() + " ms");
                }
                sleep(ackDelay);
                switchTo(false);
                synchronized (FailoverPair.this) {
                    unplugs++;
                }
            }

            @Override
            public void plug(String deviceId, Duration timeout) {
                requireOurs(deviceId);
                if (plugFails) {
                    throw new VmOperationException("no device like " + deviceId + " is free on this host");
                }
                switchTo(true);
                synchronized (FailoverPair.this) {
                    plugs++;
                }
            }
        };
    }

    private void requireOurs(String deviceId) {
        if (!primaryId.equals(deviceId)) {
            throw new VmOperationException("this VM has no hot-pluggable device " + deviceId + " (its failover "
                    + "primary is " + primaryId + ")");
        }
    }

    private synchronized void switchTo(boolean primary) {
        account(System.nanoTime());
        primaryActive = primary;
    }

    /** Counts the packets sent since the last switch on the interface that carried them. */
    private void account(long now) {
        long packets = (now - since) / PACKET_NANOS;
        if (primaryActive) {
            onPrimary += packets;
        } else {
            onStandby += packets;
        }
        since += packets * PACKET_NANOS;
    }

    /** {@return the guest's packet counts so far} */
    public synchronized PacketCounts counts() {
        account(System.nanoTime());
        return new PacketCounts(onPrimary, onStandby, lost, primaryActive, unplugs, plugs);
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmOperationException("interrupted while the guest answered", e);
        }
    }

    /**
     * The guest's packets, by the interface that carried them.
     *
     * @param onPrimary     sent on the pass-through NIC
     * @param onStandby     sent on the virtual NIC while the primary was away
     * @param lost          lost in a switch
     * @param primaryActive whether the primary carries the traffic now
     * @param unplugs       acknowledged unplugs
     * @param plugs         successful plugs
     */
    public record PacketCounts(long onPrimary, long onStandby, long lost, boolean primaryActive, int unplugs,
                               int plugs) {
    }
}
