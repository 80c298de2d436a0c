package io.livemig.engine.internal;

import io.livemig.spi.MigratableVm;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Objects;
import java.util.Set;

/**
 * One migration per VM: a migration claims its source VM before it sends anything and releases
 * the claim when it ends, however it ends; a second migration of a claimed VM is refused at once.
 * A closed VM cannot be claimed.
 *
 * <p>Claims are keyed by the handle's identity, never by {@code equals}: two handles that a
 * provider considers equal are still two handles, and a provider's {@code equals} must not decide
 * whether a VM may run twice. A claim is held only while its migration runs and is released
 * explicitly ({@link Claim#close()}, from a {@code finally}), so a finished VM is never kept
 * reachable from here; the set is process-wide because the VMs it guards are.
 *
 * <p>Thread-safe: claiming and releasing are atomic under the set's lock.
 */
public final class VmClaims {

    /** The VMs being migrated, by identity. Guarded by itself. */
    private static final Set<MigratableVm> CLAIMED = Collections.newSetFromMap(new IdentityHashMap<>());

    private VmClaims() {
    }

    /**
     * Claims {@code vm} for one migration.
     *
     * @param vm the source VM
     * @return the claim; close it when the migration ends
     * @throws NullPointerException  if {@code vm} is null
     * @throws IllegalStateException if the VM is closed, or another migration of it is running
     */
    public static Claim claim(MigratableVm vm) {
        Objects.requireNonNull(vm, "vm");
        if (!vm.isOpen()) {
            throw new IllegalStateException("cannot migrate " + describe(vm) + ": the VM is closed");
        }
        synchronized (CLAIMED) {
            if (!CLAIMED.add(vm)) {
                throw new IllegalStateException("cannot migrate " + describe(vm) + ": another migration of this VM"
                        + " is running; one migration per VM at a time, a new one may start once it ended");
            }
        }
        return new Claim(vm);
    }

    /** Names the handle for an error: its class and identity (no provider code, which could throw). */
    private static String describe(MigratableVm vm) {
        return vm.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(vm));
    }

    /** A held claim on one VM. {@link #close()} releases it; idempotent and thread-safe. */
    public static final class Claim implements AutoCloseable {
        private final MigratableVm vm;
        /** Guarded by {@link #CLAIMED}. */
        private boolean released;

        private Claim(MigratableVm vm) {
            this.vm = vm;
        }

        /** Releases the claim: a new migration of the VM may start. Idempotent. */
        @Override
        public void close() {
            synchronized (CLAIMED) {
                if (!released) {
                    released = true;
                    CLAIMED.remove(vm);
                }
            }
        }
    }
}
