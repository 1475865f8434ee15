/// The version construir reports in results and logs, a runner's and the hub's alike.
package let construirVersion = "0.1.0"
