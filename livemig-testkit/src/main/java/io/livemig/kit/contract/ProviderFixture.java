package io.livemig.kit.contract;

import io.livemig.api.MigrationOptions;
import io.livemig.api.Strategy;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * What a hypervisor vendor hands the provider contract suite: how to make a source VM and a
 * target of its provider, and which optional promises it makes beyond the SPI.
 *
 * <p><b>Sources.</b> {@link #openSource()} returns a small VM (16 to 64 MiB keeps the suite at a
 * few seconds) that is running and whose guest writes memory at a steady, modest pace (a few
 * MiB/s over part of its RAM), the way a real guest would: the dirty-tracking checks watch it
 * change pages, and the migrations must converge. Each call returns a new VM; the suite closes it.
 *
 * <p><b>Threading.</b> The suite calls a fixture from the test's thread, and
 * {@link GuestWriter#write} also from one other thread while the test thread collects; nothing
 * else is required to be thread-safe.
 */
public interface ProviderFixture {

    /**
     * Opens a source VM for one check.
     *
     * @return a new, running source VM whose guest writes memory; the caller (the suite) closes it
     * @throws Exception if the VM cannot be made; the test fails with it
     */
    MigratableVm openSource() throws Exception;

    /**
     * Creates a migration target for one check.
     *
     * @param descriptor the shape a source announced (one of {@link #openSource()}'s VMs)
     * @return a new, paused target of that shape with all-zero memory; the caller closes it
     * @throws Exception if the target cannot be made; the test fails with it
     */
    MigrationTarget createTarget(VmDescriptor descriptor) throws Exception;

    /**
     * Optional capability of the fixture: empty when the vendor has no way to write a chosen page
     * of {@code vm} from the test. The dirty-tracking checks that need to know exactly which page
     * was written when (collect-and-clear, writes racing a collect, start and redirty) are then
     * skipped; the check that watches the running guest's own writes still runs.
     *
     * @param vm a VM this fixture opened
     * @return a writer into {@code vm}'s guest memory, or empty
     */
    default Optional<GuestWriter> guestWriter(MigratableVm vm) {
        return Optional.empty();
    }

    /**
     * The migration strategies the provider claims. Empty (the default) means "derive them": cold
     * always, pre-copy when the source has a dirty tracker, post-copy when the target offers demand
     * paging, hybrid when both; a strategy the provider lacks a capability for is then skipped with
     * the capability's name. A strategy named here is checked, and fails if a capability it needs is
     * missing; one not named here is skipped.
     *
     * @return the claimed strategies, or empty to derive them from the capabilities
     */
    default Optional<Set<Strategy>> claimedStrategies() {
        return Optional.empty();
    }

    /**
     * Lets the running guest of {@code vm} run for about {@code duration} of its own time. The
     * default sleeps on the wall clock; a fixture whose VMs live on another clock advances it.
     *
     * @param vm       a VM this fixture opened
     * @param duration how long, positive
     * @throws InterruptedException if interrupted while waiting
     */
    default void letGuestRun(MigratableVm vm, Duration duration) throws InterruptedException {
        Thread.sleep(duration);
    }

    /**
     * The options the suite's migrations start from; it sets the strategy and turns verification
     * on. The default is {@link MigrationOptions#defaults()} with a 100 ms downtime limit.
     *
     * @return a new builder
     */
    default MigrationOptions.Builder migrationOptions() {
        return MigrationOptions.builder().downtimeLimit(Duration.ofMillis(100));
    }

    /**
     * Writes into a VM's guest memory from the test as the guest (or the VMM on the guest's behalf,
     * as a device's DMA) would: the bytes land in guest RAM and the write is recorded for the dirty
     * tracker, in that order.
     */
    @FunctionalInterface
    interface GuestWriter {
        /**
         * Stores {@code bytes} at {@code offset} of {@code page} and returns once a later
         * {@link io.livemig.spi.MemorySource#readPages} sees them and the dirty tracker (if
         * started) will report the page. Called from one thread at a time.
         *
         * @param page   a RAM page of the VM's layout
         * @param offset the byte offset in the page
         * @param bytes  the bytes, not longer than the rest of the page
         */
        void write(long page, int offset, byte[] bytes);
    }
}
