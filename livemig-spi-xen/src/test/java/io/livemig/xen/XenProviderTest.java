package io.livemig.xen;

import io.livemig.engine.LiveMigration;
import io.livemig.spi.HypervisorProvider;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.VmDescriptor;
import io.livemig.xen.internal.HvmState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The provider's face: discovery, availability in one line, and the URIs it takes and refuses. */
class XenProviderTest {

    private static final XenProvider NO_LIBRARIES = new XenProvider(XenLibraries.allFrom("/nonexistent/libxenctrl.so.4.17"));

    @AfterEach
    void destroyTheDomains() {
        XenShim.reset();
    }

    @Test
    void withoutTheXenLibrariesTheProviderSaysSoInOneLineAndRefusesToOpen() {
        String reason = NO_LIBRARIES.unavailableReason().orElseThrow();
        assertTrue(reason.startsWith("xen: unavailable: /nonexistent/libxenctrl.so.4.17 cannot be loaded"), reason);
        assertFalse(reason.contains("\n"), "one line: " + reason);
        IOException open = assertThrows(IOException.class, () -> NO_LIBRARIES.open(URI.create("xen:1")));
        assertEquals(reason, open.getMessage());
        IOException create = assertThrows(IOException.class, () -> NO_LIBRARIES.createTarget(URI.create("xen:new"),
                new VmDescriptor(MemoryLayout.contiguous(4096, 1 << 20), 1, List.of(), HvmState.FORMAT)));
        assertEquals(reason, create.getMessage());
    }

    @Test
    void theSystemLibrariesOnAHostWithoutXenReportOneLine() {
        Optional<String> reason = new XenProvider(XenLibraries.system()).unavailableReason();
        Assumptions.assumeTrue(reason.isPresent(), "skipped: this host runs Xen and lets this process control it");
        assertTrue(reason.get().startsWith("xen: unavailable: "), reason.get());
        assertFalse(reason.get().contains("\n"), "one line: " + reason.get());
        assertTrue(reason.get().contains("cannot be loaded") || reason.get().contains("xc_interface_open failed"),
                reason.get());
    }

    @Test
    void aControlHandleXenRefusesMakesTheProviderUnavailableNamingTheCallAndErrno() throws Exception {
        XenProvider provider = new XenProvider(XenShim.libraries());
        assertEquals(Optional.empty(), provider.unavailableReason());
        XenShim.fail("xc_interface_open", 13, 0);
        String reason = provider.unavailableReason().orElseThrow();
        assertTrue(reason.startsWith("xen: unavailable: xc_interface_open failed: Permission denied (errno 13)"), reason);
    }

    @Test
    void discoveryFindsXenBesideTheOtherProvidersWithoutLoadingALibrary() {
        HypervisorProvider xen = LiveMigration.provider(URI.create("xen:1"));
        assertInstanceOf(XenProvider.class, xen);
        assertEquals(HypervisorProvider.API_VERSION, xen.apiVersion());
        assertEquals("mem", LiveMigration.provider(URI.create("mem:vm?size=1M")).scheme());
    }

    @Test
    void aDomainIsOpenedByNameOrIdAndUnknownOnesAreRefused() throws Exception {
        XenProvider provider = new XenProvider(XenShim.libraries());
        int id = XenShim.createDomain("named", 4L << 20, 1, 0, 0, 1);
        try (XenDomain byName = (XenDomain) provider.open(URI.create("xen:named"));
             XenDomain byId = (XenDomain) provider.open(URI.create("xen:" + id))) {
            assertEquals(id, byName.domid());
            assertEquals(id, byId.domid());
        }
        assertEquals("no Xen domain is named 'other'", assertThrows(IllegalArgumentException.class,
                () -> provider.open(URI.create("xen:other"))).getMessage());
        assertEquals("there is no Xen domain 99", assertThrows(IllegalArgumentException.class,
                () -> provider.open(URI.create("xen:99"))).getMessage());
        assertEquals("domain 0 (dom0) cannot be migrated", assertThrows(IllegalArgumentException.class,
                () -> provider.open(URI.create("xen:0"))).getMessage());
        assertEquals(0, XenShim.pauseCount(id), "opening and closing left the domain running");
    }

    @Test
    void malformedUrisAndForeignDescriptorsAreRefusedBeforeTouchingXen() {
        assertThrows(IllegalArgumentException.class, () -> NO_LIBRARIES.open(URI.create("xen:")));
        assertThrows(IllegalArgumentException.class, () -> NO_LIBRARIES.open(URI.create("xen:7?x=1")));
        VmDescriptor kvm = new VmDescriptor(MemoryLayout.contiguous(4096, 1 << 20), 1, List.of(), "kvm-x86-v1");
        assertThrows(IllegalArgumentException.class, () -> NO_LIBRARIES.createTarget(URI.create("xen:new"), kvm));
        VmDescriptor xen = new VmDescriptor(MemoryLayout.contiguous(4096, 1 << 20), 1, List.of(), HvmState.FORMAT);
        assertThrows(IllegalArgumentException.class, () -> NO_LIBRARIES.createTarget(URI.create("xen:7"), xen));
    }
}
