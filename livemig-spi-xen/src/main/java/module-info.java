/**
 * livemig's Xen provider: the {@code xen:} scheme, HVM domains through libxenctrl and
 * libxenforeignmemory (Xen 4.17) bound with java.lang.foreign. Needs
 * {@code --enable-native-access=io.livemig.xen}.
 */
module io.livemig.xen {
    requires io.livemig.api;
    requires org.slf4j;

    exports io.livemig.xen;

    provides io.livemig.spi.HypervisorProvider with io.livemig.xen.XenProvider;
}
