#!/bin/busybox sh
# vfio-hil /init: bring up the target far enough to be driven over serial and SSH.
# Prints VFIO-HIL-STAGE lines as it goes and VFIO-HIL-READY when done.
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# CONFIG_DEVTMPFS_MOUNT does not apply to an initramfs: mount it ourselves.
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run /var/log /etc/dropbear
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
hostname vfio-hil
. /etc/vfio-hil/target.env
echo "VFIO-HIL-STAGE: init target=$VFIO_HIL_TARGET release=$(uname -r)"

for m in $VFIO_HIL_MGMT_MODULES; do
    modprobe "$m" || echo "VFIO-HIL-WARN: modprobe $m failed"
done

# The management NIC is named by its device (e.g. fff51000.ethernet), not by
# ethN, because probe order decides ethN. Wait up to 10 s for it to appear.
iface=""
i=0
while [ -z "$iface" ] && [ $i -lt 100 ]; do
    for n in /sys/class/net/*; do
        [ "$(basename "$(readlink "$n/device" 2>/dev/null)")" = "$VFIO_HIL_MGMT_DEVICE" ] && iface=$(basename "$n")
    done
    [ -n "$iface" ] || { i=$((i + 1)); usleep 100000; }
done
ip link set lo up
ip=""
if [ -n "$iface" ]; then
    for f in $VFIO_HIL_MGMT_FEATURES_OFF; do
        ethtool -K "$iface" "$f" off || echo "VFIO-HIL-WARN: ethtool -K $iface $f off failed"
    done
    ip link set "$iface" up
    udhcpc -i "$iface" -q -n -t 10 -T 1 -s /usr/share/udhcpc/default.script >/tmp/udhcpc.log 2>&1
    ip=$(ip -4 -o addr show dev "$iface" | awk '{print $4}')
else
    echo "VFIO-HIL-WARN: management device $VFIO_HIL_MGMT_DEVICE has no network interface"
fi

# Fault injection for the harness's own tests of its error paths: a target
# that never becomes ready (the "boot hang" case). Never set in a real run.
if grep -qw vfiohil_hang_before_ready /proc/cmdline; then
    echo "VFIO-HIL-STAGE: hanging before ready, as requested on the kernel command line"
    while true; do sleep 3600; done
fi

# The host key is made here, at every boot, and its public half printed on the console with the
# ready line: the harness pins it from there (a channel a network attacker does not share) and
# never accepts a key it was not shown. -s: keys only, no passwords.
hostkey=/etc/dropbear/dropbear_ed25519_host_key
pub=$(dropbearkey -t ed25519 -f $hostkey 2>/dev/null | grep '^ssh-ed25519 ' | cut -d' ' -f2)
dropbear -r $hostkey -s -p 22 && ssh=up || ssh=down
echo "VFIO-HIL-READY target=$VFIO_HIL_TARGET release=$(uname -r) mgmt=${iface:-none} ip=${ip:-none} ssh=$ssh hostkey=${pub:-none}"
# Keep later kernel chatter off the shell's console (it stays in dmesg); a panic still prints.
dmesg -n 1
while true; do
    setsid cttyhack sh -l
done
