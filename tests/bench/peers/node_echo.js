// An echo server on Node.js's net module, one process, one event loop: a
// peer of pingpongd in make bench-peers.
//
//     node node_echo.js PORT      (0: any free port)
//
// Listens on 127.0.0.1, prints "port N" once it does, and echoes every byte
// back as it arrives.  When write() returns false the socket's buffer is
// full: reading is paused until it drains, so a client that does not read
// its echo stalls only itself and memory stays bounded.
'use strict';

const net = require('net');

const port = Number(process.argv[2]);
if (process.argv.length !== 3 || !Number.isInteger(port) || port < 0 || port > 65535) {
	process.stderr.write('usage: node node_echo.js PORT\n');
	process.exit(2);
}

// noDelay, as pingpongd and redis do: no Nagle delay on an echo.
const server = net.createServer({ noDelay: true }, (socket) => {
	socket.on('data', (chunk) => {
		if (!socket.write(chunk)) {
			socket.pause();
			socket.once('drain', () => socket.resume());
		}
	});
	socket.on('error', () => socket.destroy());
});
server.listen({ host: '127.0.0.1', port: port, backlog: 511 }, () => {
	process.stdout.write(`port ${server.address().port}\n`);
});
