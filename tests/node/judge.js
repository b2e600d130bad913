'use strict';
// Particle's own USB client (particle-usb, unmodified) asked about a device; prints one JSON line.
// Used by tests/sim/test_real_clients.py, run under `station sim serve` (umockdev) against twins.
//
//   node judge.js list
//   node judge.js info <deviceId>            id, firmwareVersion, isInDfuMode, platformId, modules
//   node judge.js dfu <deviceId>             enterDfuMode(), then what the device is afterwards
//   node judge.js update <deviceId> <file>   updateFirmware() with the file's bytes
const fs = require('fs');
const usb = require('particle-usb');

async function open(id) {
	return usb.openDeviceById(id, {});
}

async function main() {
	const [cmd, id, file] = process.argv.slice(2);
	if (cmd === 'list') {
		const devs = await usb.getDevices();
		const out = [];
		for (const d of devs) {
			await d.open();
			out.push({ id: d.id, type: d.type, platformId: d.platformId, isInDfuMode: d.isInDfuMode });
			await d.close();
		}
		return out;
	}
	const dev = await open(id);
	try {
		if (cmd === 'info') {
			const info = { id: dev.id, type: dev.type, platformId: dev.platformId, isInDfuMode: dev.isInDfuMode,
				firmwareVersion: dev.firmwareVersion };
			if (!dev.isInDfuMode) {
				info.deviceId = await dev.getDeviceId();
				info.serialNumber = await dev.getSerialNumber();
				info.modules = await dev.getFirmwareModuleInfo();
			}
			return info;
		}
		if (cmd === 'dfu') {
			await dev.enterDfuMode();
			return { entered: true };
		}
		if (cmd === 'update') {
			const data = fs.readFileSync(file);
			await dev.updateFirmware(data, { timeout: 120000 });
			return { updated: data.length };
		}
		throw new Error(`unknown command ${cmd}`);
	} finally {
		// After a reset (DFU_MODE, a firmware update) closing is the only safe operation, and the
		// device may already be gone: do not wait on it forever.
		await Promise.race([dev.close().catch(() => {}), new Promise(resolve => setTimeout(resolve, 5000))]);
	}
}

main().then(out => {
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exit(0);
}).catch(err => {
	process.stdout.write(JSON.stringify({ error: err.message, name: err.constructor.name }) + '\n');
	process.exit(1);
});
