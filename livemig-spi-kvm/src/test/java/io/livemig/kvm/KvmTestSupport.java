package io.livemig.kvm;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Skips a test, with one line, where KVM or binutils are missing; builds the guests once. */
final class KvmTestSupport {

    private static Path dirtier;
    private static Path hello;

    private KvmTestSupport() {
    }

    static void assumeKvm() {
        Kvm.unavailableReason().ifPresent(reason -> Assumptions.abort("skipped: " + reason));
    }

    static void assumeGuests() {
        assumeKvm();
        GuestBuilder.unavailableReason().ifPresent(reason -> Assumptions.abort("skipped: " + reason));
    }

    static synchronized byte[] dirtier() throws IOException {
        assumeGuests();
        if (dirtier == null) {
            dirtier = GuestBuilder.dirtier(Files.createTempDirectory("livemig-test-guest"));
        }
        return Files.readAllBytes(dirtier);
    }

    static synchronized byte[] hello() throws IOException {
        assumeGuests();
        if (hello == null) {
            hello = GuestBuilder.hello(Files.createTempDirectory("livemig-test-guest"));
        }
        return Files.readAllBytes(hello);
    }

    /** @return whether {@code condition} became true within {@code timeout} */
    static boolean eventually(Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(10);
        }
        return condition.getAsBoolean();
    }

    /** A running dirtier in a 64 MiB VM: 32 MiB working set, whole-page random writes at {@code bytesPerSecond}. */
    static MicroVmm runningDirtier(long bytesPerSecond) throws IOException {
        assumeGuests();
        MicroVmm vmm = MicroVmm.builder().memoryBytes(64L << 20).build();
        vmm.loadMultiboot(dirtier());
        new DirtierParams(4L << 20, 32L << 20, 4096, true, bytesPerSecond, 100, 300, 7)
                .writeTo(vmm.vm().memory(), vmm.vcpus().get(0).tscKhz());
        vmm.start();
        vmm.resume();
        return vmm;
    }

    /** @return the number of "check ok" lines and whether any check failed */
    static int checksPassed(MicroVmm vmm) {
        String console = vmm.consoleTail();
        if (console.contains("FAILED")) {
            throw new AssertionError("the guest's self-check failed:\n" + console);
        }
        int n = 0;
        for (int i = console.indexOf("check ok"); i >= 0; i = console.indexOf("check ok", i + 1)) {
            n++;
        }
        return n;
    }
}
