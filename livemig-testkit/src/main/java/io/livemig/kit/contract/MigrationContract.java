package io.livemig.kit.contract;

import io.livemig.api.Strategy;
import io.livemig.spi.MigratableVm;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole migrations with livemig's engines over an in-memory channel pair, one per strategy the
 * provider claims (see {@link ProviderFixture#claimedStrategies()}), each verified page for page:
 * the engines' own digest verification must say {@code VERIFIED}, and for cold and pre-copy the
 * destination's memory at its first resume must equal the paused source's, page by page. A
 * strategy whose capability the provider lacks is skipped with the capability's name.
 */
public interface MigrationContract extends ContractTest {

    /**
     * A cold migration completes and lands every page.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void coldMigrationLandsEveryPage() throws Exception {
        Migrations.migrateAndVerify(fixture(), Strategy.COLD);
    }

    /**
     * A pre-copy migration of the running guest completes and lands every page.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void precopyMigrationLandsEveryPage() throws Exception {
        Migrations.migrateAndVerify(fixture(), Strategy.PRECOPY);
    }

    /**
     * A post-copy migration completes and every page as landed equals the source's at pause.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void postcopyMigrationLandsEveryPage() throws Exception {
        Migrations.migrateAndVerify(fixture(), Strategy.POSTCOPY);
    }

    /**
     * A hybrid (pre-copy, then post-copy) migration completes and every page as landed equals the source's.
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void hybridMigrationLandsEveryPage() throws Exception {
        Migrations.migrateAndVerify(fixture(), Strategy.HYBRID);
    }

    /**
     * close() is idempotent and ends isOpen().
     *
     * @throws Exception if the provider fails unexpectedly; the check fails with it
     */
    @Test
    default void closeIsIdempotentAndEndsIsOpen() throws Exception {
        MigratableVm vm = fixture().openSource();
        try {
            assertTrue(vm.isOpen(), "isOpen() must be true for a VM just opened");
        } finally {
            vm.close();
        }
        assertFalse(vm.isOpen(), "isOpen() must be false once close() was called");
        vm.close();
        assertFalse(vm.isOpen(), "a second close() must be harmless and leave isOpen() false");
    }
}
