// SPDX-License-Identifier: GPL-2.0-only
/* `info`: what VFIO looks like on this target; `selftest`: the uAPI basics work. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "agent.h"

static void read_first_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static void list_dir(const char *dir, const char *event)
{
	char path[PATH_MAX];
	struct agent_json j;
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st))
			continue;
		agent_json_begin(&j, event);
		agent_json_str(&j, "path", path);
		agent_json_str(&j, "type", S_ISCHR(st.st_mode) ? "char" : S_ISDIR(st.st_mode) ? "dir" : "other");
		agent_json_end(&j);
	}
	closedir(d);
}

/* Devices currently bound to vfio-platform, from sysfs. */
static void describe_bound_devices(void)
{
	const char *drv = "/sys/bus/platform/drivers/vfio-platform";
	struct agent_vfio_device dev;
	struct dirent *de;
	DIR *d = opendir(drv);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char link[PATH_MAX];
		struct stat st;

		snprintf(link, sizeof(link), "%s/%s/driver", drv, de->d_name);
		if (de->d_name[0] == '.' || stat(link, &st))
			continue;
		if (agent_vfio_open(de->d_name, &dev) == 0)
			agent_vfio_describe(&dev);
		agent_vfio_close(&dev);
	}
	closedir(d);
}

int agent_cmd_info(int argc, char **argv)
{
	struct agent_json j;
	struct utsname u;
	char noiommu[16];
	int fd, api = -1;

	(void)argc; (void)argv;
	uname(&u);
	read_first_line("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", noiommu, sizeof(noiommu));
	fd = open("/dev/vfio/vfio", O_RDWR);
	if (fd >= 0)
		api = ioctl(fd, VFIO_GET_API_VERSION);

	agent_json_begin(&j, "info");
	agent_json_str(&j, "release", u.release);
	agent_json_str(&j, "machine", u.machine);
	agent_json_bool(&j, "vfio_module", access("/sys/module/vfio", F_OK) == 0);
	agent_json_bool(&j, "container", fd >= 0);
	agent_json_int(&j, "api_version", api);
	agent_json_str(&j, "noiommu_mode", noiommu);
	agent_json_bool(&j, "ext_type1", fd >= 0 && ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1);
	agent_json_bool(&j, "ext_noiommu", fd >= 0 && ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) == 1);
	agent_json_bool(&j, "cdev_dir", access("/dev/vfio/devices", F_OK) == 0);
	agent_json_bool(&j, "iommufd", access("/dev/iommu", F_OK) == 0);
#ifdef VFIO_DEVICE_BIND_IOMMUFD
	agent_json_bool(&j, "uapi_cdev", true);
#else
	agent_json_bool(&j, "uapi_cdev", false);
#endif
	agent_json_end(&j);
	if (fd >= 0)
		close(fd);

	list_dir("/dev/vfio", "vfio_node");
	list_dir("/dev/vfio/devices", "vfio_cdev");
	describe_bound_devices();
	agent_ops_list();
	return 0;
}

int agent_cmd_selftest(int argc, char **argv)
{
	struct agent_json j;
	int fd;

	(void)argc; (void)argv;
	/* JSON escaping must survive what the kernel can hand us in names. */
	agent_json_begin(&j, "selftest_json");
	agent_json_str(&j, "escaped", "quote\" backslash\\ tab\t");
	agent_json_end(&j);

	fd = open("/dev/vfio/vfio", O_RDWR);
	if (fd < 0) {
		agent_check_failed(__FILE__, __LINE__, "open(\"/dev/vfio/vfio\") >= 0", (unsigned long long)fd, 0, errno);
		return 1;
	}
	AGENT_CHECK_EQ(ioctl(fd, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	agent_json_begin(&j, "selftest");
	agent_json_str(&j, "result", "ok");
	agent_json_int(&j, "api_version", VFIO_API_VERSION);
	agent_json_end(&j);
	close(fd);
	return 0;
}
