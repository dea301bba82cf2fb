# Loads the Vagrantfile as Vagrant would on a Windows host (or not: VAGRANT_PROBE_WINDOWS=0/1) and
# prints, as JSON, every VM with its provisioners and with everything else the Vagrantfile gave it
# ("config"), and what it gave every VM ("config" at the top). No VM, provider or box is involved:
#
#   ruby tests/render/vagrant_provision.rb Vagrantfile
#
# Vagrant.configure is replaced by a recorder, but an ansible/ansible_local block gets the real
# configuration class of the installed Vagrant (an option Vagrant does not know fails here), and
# for ansible_local the real Vagrant provisioner then runs against a stand-in VM: the project folder
# plays /vagrant (its file checks are answered from the repository), the guest has no `ansible` on
# its PATH, and every command is recorded instead of run. The rest of the Vagrantfile runs for real:
# it asks the inventory plugin for the lab. Used by tests/render/test_vagrant_ansible_local.py and
# tests/render/test_vagrant_topology.py.

require "json"
require "vagrant"
require Vagrant.source_root.join("plugins/provisioners/ansible/config/guest").to_s
require Vagrant.source_root.join("plugins/provisioners/ansible/config/host").to_s
require Vagrant.source_root.join("plugins/provisioners/ansible/provisioner/guest").to_s

vagrantfile = File.expand_path(ARGV.fetch(0))
project_dir = File.dirname(vagrantfile)

Vagrant::Util::Platform.define_singleton_method(:windows?) { ENV.fetch("VAGRANT_PROBE_WINDOWS", "1") == "1" }

# Records attribute assignments and calls of the Vagrantfile's config objects.
class Recorder
  attr_reader :attrs, :calls

  def initialize
    @attrs = {}
    @calls = []
    @children = {}
  end

  def respond_to_missing?(_name, _include_private = false)
    true
  end

  def method_missing(name, *args, **kwargs, &block)
    key = name.to_s
    return @attrs[key.chomp("=")] = args.first if key.end_with?("=")
    return @children[key] ||= Recorder.new if args.empty? && kwargs.empty? && block.nil?

    call = { "method" => key, "args" => args, "kwargs" => kwargs.transform_keys(&:to_s) }
    call["block"] = block_result(key, args, block) if block
    @calls << call
    self
  end

  def to_h
    { "attrs" => @attrs, "calls" => @calls, "children" => @children.transform_values(&:to_h) }
  end

  private

  ANSIBLE_CONFIGS = {
    "ansible_local" => VagrantPlugins::Ansible::Config::Guest,
    "ansible" => VagrantPlugins::Ansible::Config::Host,
  }.freeze

  def block_result(method, args, block)
    klass = method == "provision" && ANSIBLE_CONFIGS[args.first.to_s]
    target = klass ? klass.new : Recorder.new
    block.call(target)
    return target.to_h unless klass

    set = target.instance_variables.to_h { |v| [v.to_s.delete("@"), target.instance_variable_get(v)] }
    set = set.reject { |_, v| v == Vagrant::Plugin::V2::Config::UNSET_VALUE }
    target.finalize!
    { "config" => target, "set" => set }
  end
end

root = Recorder.new
Vagrant.define_singleton_method(:configure) { |_version, &block| block.call(root) }
ARGV.clear
load vagrantfile

# A guest whose answers are those of the Rocky VM the Windows path provisions.
class StandInVM
  attr_reader :name, :log

  def initialize(name, project_dir)
    @name = name.to_sym
    @project_dir = project_dir
    @log = { "commands" => [], "capabilities" => [], "warnings" => [] }
  end

  def env = self
  def ui = self
  def guest = self
  def communicate = self
  def color? = false
  def machine_names = []
  def info(*) = nil
  def detail(*) = nil
  def warn(message, *) = @log["warnings"] << message.to_s

  def capability?(name) = name == :ansible_installed

  # Ansible is not on the guest's PATH: ansible_installed says no, ansible_install is recorded.
  def capability(name, *args)
    @log["capabilities"] << [name.to_s, *args.map(&:to_s)]
    false
  end

  def execute(command, opts = {})
    @log["commands"] << command
    if (path = command[%r{\Atest -[fe] '/vagrant/?(.*)'\z}, 1])
      return 0 if File.exist?(File.join(@project_dir, path))
    elsif command.start_with?("cd ")
      return 0
    end
    return 1 if opts[:error_check] == false

    raise Vagrant::Errors::VagrantError, "guest command failed: #{command}"
  end
end

def run_ansible_local(vm_name, config, project_dir)
  vm = StandInVM.new(vm_name, project_dir)
  begin
    VagrantPlugins::Ansible::Provisioner::Guest.new(vm, config).provision
    vm.log["error"] = nil
  rescue StandardError => e
    vm.log["error"] = "#{e.class}: #{e.message}"
  end
  vm.log
end

def jsonable(value)
  case value
  when Hash then value.to_h { |k, v| [k.to_s, jsonable(v)] }
  when Array then value.map { |v| jsonable(v) }
  when Symbol then value.to_s
  when String, Integer, Float, TrueClass, FalseClass, NilClass then value
  else value.to_s
  end
end

top = root.to_h
defines, top_calls = top.dig("children", "vm", "calls").partition { |c| c["method"] == "define" }
top["children"]["vm"]["calls"] = top_calls

vms = defines.map do |define|
  name = define["args"].first.to_s
  config = define["block"]
  calls = config.dig("children", "vm", "calls") || []
  provisioners = calls.select { |c| c["method"] == "provision" }.map do |call|
    type = call["args"].first.to_s
    entry = { "type" => type, "options" => call["kwargs"] }
    if (block = call["block"])
      if block.key?("config")
        entry["options"] = entry["options"].merge(block["set"])
        entry["run"] = run_ansible_local(name, block["config"], project_dir) if type == "ansible_local"
      else
        entry["options"] = entry["options"].merge(block["attrs"])
      end
    end
    entry
  end
  machine = config.merge("children" => config["children"].merge(
    "vm" => config["children"]["vm"].merge("calls" => calls.reject { |c| c["method"] == "provision" })
  ))
  { "name" => name, "provisioners" => provisioners, "config" => machine }
end

puts JSON.pretty_generate(jsonable({ "vagrant_version" => Vagrant::VERSION, "config" => top, "vms" => vms }))
