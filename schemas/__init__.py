"""The canonical model (``avro/*.avsc``), the schema registry, and the Avro wire codec."""
